package testpeer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// PyPeer is one of the Python peers of testdata/peers (zguide's Paranoid
// Pirate queue and worker and Lazy Pirate client, strict, in pyzmq),
// running as a process of its own. Its stdout lines after READY arrive on
// Lines, which is closed at end of output; Exited is closed when the
// process has exited, and Err is then its exit status.
type PyPeer struct {
	Cmd    *exec.Cmd
	Ready  string      // what followed "READY " on its first line
	Lines  chan string // its other stdout lines (the channel holds 1024)
	Exited chan struct{}
	Err    error
	stdin  io.Closer
}

// StartPy starts testdata/peers/<script> with args and --exit-on-stdin-eof
// (so it dies with the test even if nothing stops it), and waits (up to 15
// s) for its READY line. It ends with the test: stdin is closed, and the
// process killed if it has not exited 3 s later. The test is skipped
// without a python3 that has pyzmq (Python).
func StartPy(t testing.TB, script string, args ...string) *PyPeer {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{filepath.Join(peersDir(t), script), "--exit-on-stdin-eof"}, args...)...)
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
	exited := make(chan struct{})
	if err := StartTied(t, cmd, exited); err != nil {
		t.Fatal(err)
	}
	p := &PyPeer{Cmd: cmd, stdin: stdin, Lines: make(chan string, 1024), Exited: exited}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.Lines <- sc.Text()
		}
		close(p.Lines)
		p.Err = cmd.Wait()
		close(p.Exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.Exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
		}
	})
	select {
	case line := <-p.Lines:
		r, ok := strings.CutPrefix(line, "READY ")
		if !ok {
			cmd.Process.Kill()
			t.Fatalf("%s: first line %q", script, line)
		}
		p.Ready = r
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s not ready", script)
	}
	return p
}

// Next returns the peer's next output line, or false if it exited or said
// nothing more within d.
func (p *PyPeer) Next(d time.Duration) (string, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l, ok := <-p.Lines:
		return l, ok
	case <-t.C:
		return "", false
	}
}

// CloseStdin closes the peer's stdin: it exits (status 0) soon after.
func (p *PyPeer) CloseStdin() { p.stdin.Close() }

// Kill kills the peer with SIGKILL and waits for it to exit. Lines already
// printed stay readable.
func (p *PyPeer) Kill() {
	p.Cmd.Process.Kill()
	<-p.Exited
}

// Wait waits up to d for the peer to exit and returns its output lines and
// exit status; the test fails if it is still running then.
func (p *PyPeer) Wait(t testing.TB, d time.Duration) ([]string, error) {
	t.Helper()
	var out []string
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.Lines:
			if !ok {
				<-p.Exited
				return out, p.Err
			}
			out = append(out, l)
		case <-timer.C:
			p.Cmd.Process.Kill()
			t.Fatalf("python peer still running after %v; output %q", d, out)
		}
	}
}

// Python returns the python3 with pyzmq that runs the peers:
// $ZMQGUARD_PYTHON (make test sets it), else what scripts/find-python.sh
// finds; the test is skipped without one.
func Python(t testing.TB) string {
	t.Helper()
	if py := os.Getenv("ZMQGUARD_PYTHON"); py != "" {
		return py
	}
	script := filepath.Join(filepath.Dir(peersDir(t)), "..", "scripts", "find-python.sh")
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		t.Skipf("no python3 with pyzmq (%v); install python3-zmq (make deps)", err)
	}
	return strings.TrimRight(string(out), "\r\n")
}

// peersDir finds testdata/peers above the test's directory (the test
// binary runs in its package's directory, in any module of the repository).
func peersDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "testdata", "peers")
		if _, err := os.Stat(filepath.Join(p, "ppworker.py")); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testdata/peers not found above the test's directory")
		}
		dir = parent
	}
}

// FirstTries is a request handler (with reliable.Handler's signature) for
// tests with clients that retry, zguide's lpclient above all: it echoes
// every request, except that the first try of the request whose first
// frame is Fail returns an error, and the first try of Panic panics. Runs
// counts the tries of each request. It is safe for concurrent use.
type FirstTries struct {
	Fail, Panic string

	mu   sync.Mutex
	runs map[string]int
}

// Handle serves one request.
func (f *FirstTries) Handle(_ context.Context, req [][]byte) ([][]byte, error) {
	body := string(req[0])
	f.mu.Lock()
	if f.runs == nil {
		f.runs = map[string]int{}
	}
	f.runs[body]++
	n := f.runs[body]
	f.mu.Unlock()
	switch {
	case body == f.Fail && n == 1:
		return nil, errors.New("first try fails")
	case body == f.Panic && n == 1:
		panic("first try panics")
	}
	return req, nil
}

// Runs returns how often the request body was tried.
func (f *FirstTries) Runs(body string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[body]
}
