package main

import (
	"os/exec"
	"syscall"
)

// dieWithBench makes the kernel kill a cubelet the bench started when the bench dies,
// however it dies, so no cubelet outlives a cancelled run.
func dieWithBench(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
