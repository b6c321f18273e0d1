package testpeer

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Python is a Python test peer from testdata/peers (see its README.md),
// started by StartPython: it prints "READY ..." first, then lines the test
// reads with Next or Wait.
type Python struct {
	// Ready is what followed "READY " on the peer's first line.
	Ready string

	cmd    *exec.Cmd
	stdin  io.Closer
	lines  chan string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// StartPython starts testdata/peers/<script> with args (and
// --exit-on-stdin-eof, so that it dies with the test), waits up to 15 s
// for its READY line, and stops it when the test ends (stdin EOF, then
// SIGKILL after 3 s). The test is skipped when no python3 with pyzmq is
// found (see PythonPath).
func StartPython(t testing.TB, script string, args ...string) *Python {
	t.Helper()
	py := PythonPath(t)
	dir, err := peersDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{filepath.Join(dir, script), "--exit-on-stdin-eof"}, args...)...)
	cmd.Dir = t.TempDir() // away from the repository's zmq/ directory
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Python{cmd: cmd, stdin: stdin, lines: make(chan string, 4096), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
			p.Kill()
		}
	})
	first, ok := p.Next(15 * time.Second)
	if !ok {
		p.Kill()
		t.Fatalf("%s: no READY line within 15s", script)
	}
	ready, found := strings.CutPrefix(first, "READY ")
	if !found {
		t.Fatalf("%s: first line %q, want READY", script, first)
	}
	p.Ready = ready
	return p
}

// Next returns the peer's next output line, or false if it exited or said
// nothing more within d.
func (p *Python) Next(d time.Duration) (string, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l, ok := <-p.lines:
		return l, ok
	case <-t.C:
		return "", false
	}
}

// Wait waits up to d for the peer to exit and returns the lines it printed
// after READY (those not taken by Next) and its exit error. The test fails
// if the peer is still running after d.
func (p *Python) Wait(t testing.TB, d time.Duration) ([]string, error) {
	t.Helper()
	var out []string
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.exited
				return out, p.err
			}
			out = append(out, l)
		case <-timer.C:
			p.Kill()
			t.Fatalf("python peer still running after %v; output %q", d, out)
		}
	}
}

// Kill kills the peer with SIGKILL and waits for it to exit. Idempotent.
func (p *Python) Kill() {
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.cmd.Process.Kill()
	<-p.exited
}

// PythonPath returns the python3 with pyzmq that runs the peers:
// $ZMQGUARD_PYTHON, else what scripts/find-python.sh prints; the test is
// skipped when there is none.
func PythonPath(t testing.TB) string {
	t.Helper()
	if py := os.Getenv("ZMQGUARD_PYTHON"); py != "" {
		return py
	}
	dir, err := peersDir()
	if err == nil {
		out, err := exec.Command("bash", filepath.Join(dir, "..", "..", "scripts", "find-python.sh")).Output()
		if err == nil {
			return strings.TrimRight(string(out), "\r\n")
		}
	}
	t.Skipf("no python3 with pyzmq; install python3-zmq or set ZMQGUARD_PYTHON")
	return ""
}

// peersDir finds testdata/peers above the working directory (a test runs
// in its package's directory).
func peersDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "testdata", "peers")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", os.ErrNotExist
		}
		dir = up
	}
}
