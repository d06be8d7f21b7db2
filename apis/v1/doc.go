// Package v1 holds cubelet's declarative API: the Task object, its spec and
// status, the seed's states and their transition table, defaulting and
// validation. It owns the shape of the data and the rules on it; it must not
// know about storage, HTTP or Docker.
//
// +k8s:deepcopy-gen=package
package v1
