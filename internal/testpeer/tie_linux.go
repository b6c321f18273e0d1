package testpeer

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// StartTied starts cmd so that it dies with the test binary, however
// that ends (a kill from outside, go test's timeout): the child gets
// SIGKILL when its parent dies, even while frozen with SIGSTOP. Linux
// sends that signal when the parent thread ends, not the process, so cmd
// is started from a goroutine that keeps its OS thread locked until the
// test's cleanups are done, or until the caller closes exited (once it
// has waited for cmd): the thread then ends, and with it a child that is
// still running. Register the test's own cleanups (a graceful stop, say)
// after StartTied: they run first.
func StartTied(t testing.TB, cmd *exec.Cmd, exited <-chan struct{}) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	release := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		// Never unlocked: the thread exits with this goroutine.
		runtime.LockOSThread()
		started <- cmd.Start()
		select {
		case <-release:
		case <-exited:
		}
	}()
	t.Cleanup(func() {
		close(release)
		<-ended
	})
	return <-started
}
