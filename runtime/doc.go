// Package runtime is cubelet's only door to the container engine. It holds
// the plain types the controller reasons about (Container, ContainerSpec,
// Event), the Docker Engine implementation (the only importer of
// github.com/docker/docker in the module, so moving to moby/moby/client is a
// one-package change) and, in runtime/fake, an in-memory engine for tests.
//
// It must not decide anything: which container to create, stop or remove is
// the controller's business. The controller owns the interface it consumes.
package runtime
