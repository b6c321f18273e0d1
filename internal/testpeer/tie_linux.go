package testpeer

import (
	"os"
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
	OnThreadThatEnds(func() {
		defer close(ended)
		started <- cmd.Start()
		select {
		case <-release:
		case <-exited:
		}
	})
	t.Cleanup(func() {
		close(release)
		<-ended
	})
	return <-started
}

// OnThreadThatEnds runs f in a new goroutine locked to an OS thread that
// ends when f returns, and that nothing else runs on: a child started in
// f with Pdeathsig dies when f returns, or with the process. Go never ends
// the main thread, so a goroutine that lands there holds it while another
// runs f.
func OnThreadThatEnds(f func()) {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if syscall.Gettid() != os.Getpid() {
			f()
			return
		}
		done := make(chan struct{})
		OnThreadThatEnds(func() {
			defer close(done)
			f()
		})
		<-done
		runtime.UnlockOSThread()
	}()
}
