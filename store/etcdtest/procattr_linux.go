package etcdtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill etcd when the test process dies,
// however it dies (a test timeout's panic skips every cleanup), so no
// server outlives its tests.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
