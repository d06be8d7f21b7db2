//go:build unix

package etcdtest

import (
	"fmt"
	"syscall"
)

// Pause stops the server with SIGSTOP: it keeps its connections open and
// answers nothing, as a host cut off by a partition (or hung) does.
// Resume undoes it.
func (s *Server) Pause() error {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause etcd: %w", err)
	}
	return nil
}

// Resume continues a server stopped by Pause.
func (s *Server) Resume() error {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("resume etcd: %w", err)
	}
	return nil
}
