//go:build !linux

package main

import "os/exec"

// dieWithBench has no portable equivalent outside Linux.
func dieWithBench(*exec.Cmd) {}
