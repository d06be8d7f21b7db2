// Package cube holds the wire types of Cube, the orchestrator of "Build an
// Orchestrator in Go" (Task, TaskEvent and the integer State), exactly as
// Cube's manager marshals them: no JSON tags, so the keys are the Go field
// names, and every field is sent, zero values included. It also converts
// them to and from cubelet's v1 Task, which is the only form cubelet
// stores.
//
// It owns the mapping between the two APIs and nothing else: it must not
// store, serve HTTP or talk to Docker, and it does not import Docker's
// packages (PortSet and PortMap are shapes equal to Docker's nat types).
package cube
