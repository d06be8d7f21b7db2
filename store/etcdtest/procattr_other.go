//go:build !linux

package etcdtest

import "os/exec"

// dieWithParent has no portable equivalent outside Linux: Stop is the
// only cleanup there.
func dieWithParent(*exec.Cmd) {}
