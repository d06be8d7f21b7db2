package cube

// Annotations keep the Cube fields v1 has no place for, so that a task
// posted through the Cube API reads back as it was sent.
const (
	// AnnotationName is Cube's Task.Name; the v1 name is the task's UUID.
	AnnotationName = "cube.cubelet.io/name"
	// AnnotationDisk is Cube's Task.Disk in bytes; cubelet does not
	// enforce it.
	AnnotationDisk = "cube.cubelet.io/disk"
	// AnnotationHealthCheck is Cube's Task.HealthCheck, a URL path the
	// manager probes; cubelet does not probe it.
	AnnotationHealthCheck = "cube.cubelet.io/health-check"
	// AnnotationRestartPolicy is Cube's Task.RestartPolicy when v1's
	// policy alone would not give it back ("unless-stopped", "no").
	AnnotationRestartPolicy = "cube.cubelet.io/restart-policy"
)

// setAnnotation sets key to value, or removes it when value is empty, so
// that zero values leave no trace.
func setAnnotation(annotations map[string]string, key, value string) map[string]string {
	if value == "" {
		delete(annotations, key)
		return annotations
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[key] = value
	return annotations
}
