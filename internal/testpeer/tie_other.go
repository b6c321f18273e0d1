//go:build !linux

package testpeer

import (
	"os/exec"
	"testing"
)

// StartTied starts cmd. Only Linux ties a child to its parent's life
// (see tie_linux.go); elsewhere the test's cleanups must stop it.
func StartTied(t testing.TB, cmd *exec.Cmd, exited <-chan struct{}) error {
	return cmd.Start()
}

// OnThreadThatEnds runs f in a new goroutine (see tie_linux.go).
func OnThreadThatEnds(f func()) { go f() }
