//go:build !unix

package etcdtest

import "errors"

// Pause needs SIGSTOP, which only Unix has.
func (s *Server) Pause() error { return errors.New("pause etcd: not supported on this system") }

// Resume needs SIGCONT, which only Unix has.
func (s *Server) Resume() error { return errors.New("resume etcd: not supported on this system") }
