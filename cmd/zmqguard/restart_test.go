package main_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

// proc is a zmqguard process started by a test, in a process group of its
// own: its first stdout line is read, the rest collected; it is SIGKILLed
// with its children (an --exec command) at cleanup if still running.
type proc struct {
	cmd    *exec.Cmd
	first  string
	rest   *syncBuffer
	copied chan struct{}
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, testpeer.StartTied(t, cmd, nil)) // waited for at cleanup at the latest
	p := &proc{cmd: cmd, rest: &syncBuffer{}, copied: make(chan struct{})}
	lines := bufio.NewReader(stdout)
	p.first, err = lines.ReadString('\n')
	require.NoError(t, err, "zmqguard %q printed nothing", args)
	go func() { defer close(p.copied); _, _ = io.Copy(p.rest, lines) }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.kill()
		}
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // what --exec left
	})
	return p
}

// stop ends the process with SIGTERM and returns the rest of its output;
// it must exit 0.
func (p *proc) stop(t *testing.T) string {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	<-p.copied
	require.NoError(t, p.cmd.Wait())
	return p.rest.String()
}

// kill SIGKILLs the process (not its children: a killed server leaves
// its --exec command behind, as a crash would, until cleanup).
func (p *proc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// waitForFile waits until path exists (a worker's --exec creates it; there
// is no event to await).
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s never appeared", path)
		time.Sleep(5 * time.Millisecond)
	}
}

// waitForLine waits until out holds a line containing s.
func waitForLine(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), s) {
		require.True(t, time.Now().Before(deadline), "no %q in %q", s, out.String())
		time.Sleep(5 * time.Millisecond)
	}
}

// zgQuiet runs the binary with args, from any goroutine.
func zgQuiet(args ...string) result {
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code, r.stderr = -1, err.Error()
	}
	return r
}

// TestReqRidesOutRestart: `zmqguard req` with its defaults (3 attempts of
// 2.5 s) in flight when its server is SIGKILLed, the server back on the
// same port 6 s later: the request is answered, in both modes.
func TestReqRidesOutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 6 s outage")
	}
	const down = 6 * time.Second
	type run struct {
		srv      *proc
		endpoint string
		res      chan result
		killed   time.Time
	}
	var runs []*run
	for _, mode := range []string{"", "--plain"} {
		marker := filepath.Join(t.TempDir(), "taken")
		srv := start(t, "serve", "--exec", "touch "+marker+"; sleep 60", "tcp://127.0.0.1:*")
		ep, ok := strings.CutPrefix(strings.TrimSpace(srv.first), "serving on ")
		require.True(t, ok, srv.first)
		r := &run{srv: srv, endpoint: ep, res: make(chan result, 1)}
		args := []string{"req", ep, "survive"}
		if mode != "" {
			args = append([]string{"req", mode}, args[1:]...)
		}
		go func() { r.res <- zgQuiet(args...) }()
		waitForFile(t, marker)
		srv.kill()
		r.killed = time.Now()
		runs = append(runs, r)
	}
	for _, r := range runs {
		time.Sleep(time.Until(r.killed.Add(down))) // the outage is the workload
		again := start(t, "serve", r.endpoint)
		t.Cleanup(func() { again.stop(t) })
	}
	for i, r := range runs {
		got := <-r.res
		t.Logf("req %s after a %v outage: exit %d, stdout %q, stderr %q", []string{"correlated", "plain"}[i], down, got.code, got.stdout, got.stderr)
		assert.Equal(t, 0, got.code, "gave up: %s", got.stderr)
		assert.Equal(t, "survive\n", got.stdout)
	}
}
