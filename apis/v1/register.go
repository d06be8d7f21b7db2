package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// KindTask and KindTaskList are the kinds of the two objects of this API.
	KindTask     = "Task"
	KindTaskList = "TaskList"
)

// SchemeGroupVersion is the group and version of this API; its String() is
// the apiVersion every object carries, "cubelet/v1".
var SchemeGroupVersion = schema.GroupVersion{Group: "cubelet", Version: "v1"}

// APIVersion is SchemeGroupVersion as it is written in objects.
var APIVersion = SchemeGroupVersion.String()

// Resource names tasks in API errors ("tasks.cubelet \"web\" not found").
var Resource = schema.GroupResource{Group: "cubelet", Resource: "tasks"}

// NodeResource names nodes in API errors.
var NodeResource = schema.GroupResource{Group: "cubelet", Resource: "nodes"}
