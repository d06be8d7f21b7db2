package runtime_test

import (
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

// Docker must keep implementing the interface the controller consumes.
var _ controller.Runtime = (*runtime.Docker)(nil)
