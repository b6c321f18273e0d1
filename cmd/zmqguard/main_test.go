package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/hostile"
	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// binary is the zmqguard command, built once for all tests.
var binary string

func TestMain(m *testing.M) {
	hostile.Register()
	testpeer.MaybeRun() // when re-executed as an attacker (hostile_test.go)
	dir, err := os.MkdirTemp("", "zmqguard-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "zmqguard")
		if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		code := m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				return 1
			}
		}
		return code
	}()
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// zg runs the binary with args; it must end within 20 seconds.
func zg(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "zmqguard %q did not finish", args)
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	t.Logf("zmqguard %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, clipLog(r.stdout), clipLog(r.stderr))
	return r
}

// serve starts `zmqguard serve` with args on a free port and returns its
// endpoint; the process is stopped with SIGTERM at cleanup, and must exit 0.
func serve(t *testing.T, args ...string) (endpoint string, stopped func() string) {
	t.Helper()
	first, stop := daemon(t, append([]string{"serve"}, append(args, "tcp://127.0.0.1:*")...)...)
	if strings.HasPrefix(first, "{") {
		var ev struct{ Event, Endpoint string }
		require.NoError(t, json.Unmarshal([]byte(first), &ev))
		require.Equal(t, "listening", ev.Event)
		return ev.Endpoint, stop
	}
	ep, ok := strings.CutPrefix(strings.TrimSpace(first), "serving on ")
	require.True(t, ok, "first line %q", first)
	return ep, stop
}

// daemon starts a long-running zmqguard command and returns the first line
// it prints and a function that stops it with SIGTERM (it must exit 0) and
// returns the rest of its output; it is stopped at cleanup too.
func daemon(t *testing.T, args ...string) (first string, stopped func() string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	require.NoError(t, testpeer.StartTied(t, cmd, nil)) // stop waits, at cleanup at the latest
	lines := bufio.NewReader(stdout)
	first, err = lines.ReadString('\n')
	require.NoError(t, err, "zmqguard %q printed nothing; stderr: %s", args, errOut.String())
	var rest bytes.Buffer
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(&rest, lines) }()
	var out string
	stop := func() string {
		if cmd.ProcessState != nil {
			return out
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		<-copied
		require.NoError(t, cmd.Wait(), "zmqguard %q exit; stderr: %s", args, errOut.String())
		out = rest.String()
		return out
	}
	t.Cleanup(func() { stop() })
	return first, stop
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inProcess runs a reliable.Server with handler h in the test process.
func inProcess(t *testing.T, h reliable.Handler) string {
	t.Helper()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", h)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		require.NoError(t, zctx.Term())
	})
	return srv.Addr()
}

// deadEndpoint returns a TCP endpoint where nothing listens.
func deadEndpoint(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ep := "tcp://" + l.Addr().String()
	require.NoError(t, l.Close())
	return ep
}

func TestUsage(t *testing.T) {
	r := zg(t)
	assert.Equal(t, 64, r.code)
	assert.Contains(t, r.stderr, "Usage:")
	r = zg(t, "frobnicate")
	assert.Equal(t, 64, r.code)
	assert.Contains(t, r.stderr, `unknown command "frobnicate"`)
	r = zg(t, "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "zmqguard req")

	for _, c := range []string{"req", "serve", "ping", "bench", "queue", "worker"} {
		t.Run(c, func(t *testing.T) {
			r := zg(t, c, "--help")
			assert.Equal(t, 0, r.code)
			assert.Contains(t, r.stdout, "Usage: zmqguard "+c)
			assert.Contains(t, r.stdout, "-json")
			assert.Empty(t, r.stderr)

			r = zg(t, c, "--no-such-flag")
			assert.Equal(t, 64, r.code)
			assert.Contains(t, r.stderr, "flag provided but not defined: -no-such-flag")
		})
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"req"},
		{"req", "tcp://127.0.0.1:1"},
		{"req", "localhost:5555", "x"},
		{"req", "inproc://x", "x"},
		{"req", "--timeout", "0s", "tcp://127.0.0.1:1", "x"},
		{"req", "--timeout", "soon", "tcp://127.0.0.1:1", "x"},
		{"req", "--retries", "-1", "tcp://127.0.0.1:1", "x"},
		{"req", "--endpoint", "nonsense", "tcp://127.0.0.1:1", "x"},
		{"req", "nosuch://x", "x"},
		{"serve"},
		{"serve", "a", "b"},
		{"ping", "--count", "-1", "tcp://127.0.0.1:1"},
		{"ping", "--interval", "0s", "tcp://127.0.0.1:1"},
		{"bench", "--inflight", "0", "tcp://127.0.0.1:1"},
		{"bench"},
		{"queue"},
		{"queue", "tcp://127.0.0.1:*"},
		{"queue", "--liveness", "1", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"},
		{"queue", "--request-timeout", "-1s", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"},
		{"queue", "inproc://a", "tcp://127.0.0.1:*"},
		{"queue", "--peer", "tcp://127.0.0.1:1", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"},
		{"queue", "--backup", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"},
		{"worker", "tcp://127.0.0.1:1", "inproc://b"},
		{"worker"},
		{"worker", "--interval", "0s", "tcp://127.0.0.1:1"},
		{"worker", "--handler-timeout", "-1s", "tcp://127.0.0.1:1"},
		// Endpoints libzmq would misread (issue 16); a NUL byte cannot be
		// passed on a command line.
		{"serve", "tcp://127.0.0.1:99999"},
		{"serve", "tcp://127.0.0.1:-1"},
		{"serve", "tcp://256.1.1.1:5555"},
		{"req", "tcp://127.0.0.1:99999", "x"},
		{"req", "tcp://127.0.0.1:-1", "x"},
		{"req", "tcp://256.1.1.1:5555", "x"},
		{"req", "--endpoint", "tcp://256.1.1.1:5555", "tcp://127.0.0.1:1", "x"},
		{"req", "tcp://127.0.0.1:*", "x"},
		{"ping", "tcp://127.0.0.1:99999"},
		{"bench", "tcp://256.1.1.1:5555"},
	} {
		r := zg(t, args...)
		assert.Equal(t, 64, r.code, "%q", args)
		assert.NotEmpty(t, r.stderr, "%q", args)
		assert.Empty(t, r.stdout, "%q", args)
		if strings.Contains(r.stderr, "invalid endpoint") {
			named := false
			for _, a := range args {
				named = named || strings.Contains(a, "://") && strings.Contains(r.stderr, `"`+a+`"`)
			}
			assert.True(t, named, "%q: the error names the endpoint", args)
		}
	}
}

func TestReqAgainstServe(t *testing.T) {
	ep, stop := serve(t)
	r := zg(t, "req", ep, "hello", "world")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "hello\nworld\n", r.stdout)

	r = zg(t, "req", "--json", ep, "--", "-dash")
	require.Equal(t, 0, r.code)
	var res struct {
		Reply    []string
		Attempts int
		Elapsed  float64 `json:"elapsed_ms"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Equal(t, []string{"-dash"}, res.Reply)
	assert.Equal(t, 1, res.Attempts)
	assert.Positive(t, res.Elapsed)

	// Flags after the positional arguments, and a plain REQ envelope.
	r = zg(t, "req", ep, "plain", "--plain", "--timeout", "2s")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "plain\n", r.stdout)

	assert.Contains(t, stop(), "stopped: 3 requests, 3 executed, 3 replies (0 errors)")
}

// TestReqNoReply: nothing listens; req waits for a connection for its
// whole budget, (retries + 1) × timeout, sends nothing and says why.
func TestReqNoReply(t *testing.T) {
	dead := deadEndpoint(t)
	start := time.Now()
	r := zg(t, "req", "--timeout", "100ms", "--retries", "1", dead, "anyone?")
	took := time.Since(start)
	assert.Equal(t, 2, r.code)
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	assert.Less(t, took, 10*time.Second)
	assert.Contains(t, r.stderr, "no reply after 0 attempt(s): last: reliable: no connected peer")
	assert.Empty(t, r.stdout)

	r = zg(t, "req", "--json", "--timeout", "100ms", "--retries", "0", dead, "anyone?")
	assert.Equal(t, 2, r.code)
	var res struct {
		Error, Message string
		Attempts       int
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Equal(t, "no_reply", res.Error)
	assert.Contains(t, res.Message, "no connected peer")
	assert.Zero(t, res.Attempts)
}

func TestReqRemoteError(t *testing.T) {
	ep := inProcess(t, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return nil, &reliable.RemoteError{Code: "not_found", Message: "no such " + string(req[0])}
	})
	r := zg(t, "req", ep, "thing")
	assert.Equal(t, 3, r.code)
	assert.Equal(t, "zmqguard req: error reply: not_found: no such thing\n", r.stderr)

	r = zg(t, "req", "--json", ep, "thing")
	assert.Equal(t, 3, r.code)
	var res struct{ Error, Code, Message string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Equal(t, "remote", res.Error)
	assert.Equal(t, "not_found", res.Code)
	assert.Equal(t, "no such thing", res.Message)
}

func TestReqFailover(t *testing.T) {
	ep := inProcess(t, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte("from the second")}, nil
	})
	r := zg(t, "req", "--timeout", "500ms", "--endpoint", ep, deadEndpoint(t), "hi")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "from the second\n", r.stdout)
}

func TestServeExec(t *testing.T) {
	ep, stop := serve(t, "--exec", "tr a-z A-Z", "--verbose")
	r := zg(t, "req", ep, "shout", "this")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "SHOUT\nTHIS\n", r.stdout)
	stop()

	ep, _ = serve(t, "--exec", "echo broken >&2; exit 7")
	r = zg(t, "req", ep, "x")
	assert.Equal(t, 3, r.code)
	assert.Contains(t, r.stderr, "error reply: exec: exit status 7: broken")
}

func TestServeJSON(t *testing.T) {
	ep, stop := serve(t, "--json", "--verbose")
	r := zg(t, "req", ep, "logged")
	require.Equal(t, 0, r.code)
	out := stop()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	var req struct {
		Event   string
		Request []string
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &req))
	assert.Equal(t, "request", req.Event)
	assert.Equal(t, []string{"logged"}, req.Request)
	var st struct {
		Event string
		Stats reliable.ServerStats
	}
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &st))
	assert.Equal(t, "stopped", st.Event)
	assert.EqualValues(t, 1, st.Stats.Requests)
}

func TestServeBindFails(t *testing.T) {
	// A port in use: the bind fails in libzmq (exit 1). A malformed
	// endpoint, such as tcp://256.0.0.1:1, is a usage error (exit 64,
	// TestBadArguments).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	r := zg(t, "serve", "tcp://"+l.Addr().String())
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "zmqguard serve:")
	assert.Contains(t, r.stderr, l.Addr().String())
}

func TestPing(t *testing.T) {
	ep, _ := serve(t)
	r := zg(t, "ping", "--count", "3", "--interval", "50ms", ep)
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "PING "+ep)
	for seq := 1; seq <= 3; seq++ {
		assert.Regexp(t, fmt.Sprintf(`reply from %s: seq=%d time=\d+\.\d{3} ms\n`, ep, seq), r.stdout)
	}
	assert.Contains(t, r.stdout, "--- "+ep+" zmqguard ping statistics ---\n3 requests sent, 3 replies received, 0% loss")
	assert.Regexp(t, `rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms`, r.stdout)

	r = zg(t, "ping", "--json", "--count", "2", "--interval", "10ms", ep)
	assert.Equal(t, 0, r.code)
	var sum struct {
		Sent, Received int
		LossPct        float64 `json:"loss_pct"`
		MinMs          float64 `json:"min_ms"`
		MaxMs          float64 `json:"max_ms"`
		Pings          []struct{ Seq int }
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	assert.Equal(t, 2, sum.Sent)
	assert.Equal(t, 2, sum.Received)
	assert.Zero(t, sum.LossPct)
	assert.LessOrEqual(t, sum.MinMs, sum.MaxMs)
	assert.Len(t, sum.Pings, 2)
}

// TestPingNoReply: each failed ping names its cause. Nothing listening:
// not connected; a server that takes the request and never answers: no
// reply; one that takes it and goes away: the peer disconnected, after how
// long.
func TestPingNoReply(t *testing.T) {
	dead := deadEndpoint(t)
	r := zg(t, "ping", "--count", "2", "--interval", "10ms", "--timeout", "100ms", dead)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stdout, "not connected within 100ms: seq=1\n")
	assert.Contains(t, r.stdout, "2 requests sent, 0 replies received, 100% loss")
	assert.NotContains(t, r.stdout, "rtt min")

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	defer zctx.Term()
	mute, err := zctx.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	defer mute.Close()
	require.NoError(t, mute.Bind("tcp://127.0.0.1:*"))
	ep, err := mute.GetLastEndpoint()
	require.NoError(t, err)
	r = zg(t, "ping", "--count", "1", "--timeout", "100ms", ep)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stdout, "no reply within 100ms: seq=1\n")

	// A server that closes its socket once it has the request: the ping
	// ends at once, not at its timeout.
	gone, err := zctx.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	require.NoError(t, gone.Bind("tcp://127.0.0.1:*"))
	ep, err = gone.GetLastEndpoint()
	require.NoError(t, err)
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := timeout.RecvMessageBytes(ctx, gone)
		gone.Close()
		closed <- err
	}()
	r = zg(t, "ping", "--count", "1", "--timeout", "10s", ep)
	require.NoError(t, <-closed)
	assert.Equal(t, 2, r.code)
	m := regexp.MustCompile(`peer disconnected after (\d+\.\d{3}) ms: seq=1\n`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "stdout %q", r.stdout)
	after, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.Less(t, after, 5000.0, "ended well before its 10 s timeout")
}

func TestBench(t *testing.T) {
	ep, _ := serve(t)
	r := zg(t, "bench", "--duration", "500ms", "--inflight", "4", "--size", "16", ep)
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "bench "+ep+": 0.5s, 4 in flight, 16-byte requests\n")
	assert.Regexp(t, `replies   [1-9]\d* \(\d+/s\), errors 0`, r.stdout)
	assert.Regexp(t, `latency   p50 [\d.]+ ms  p90 [\d.]+ ms  p99 [\d.]+ ms  p99.9 [\d.]+ ms  max [\d.]+ ms`, r.stdout)
	assert.Empty(t, r.stderr, "no progress line when stderr is not a terminal")

	r = zg(t, "bench", "--json", "--duration", "300ms", ep)
	assert.Equal(t, 0, r.code)
	var res struct {
		Requests  int
		Errors    int
		PerSecond float64 `json:"requests_per_s"`
		P50       float64 `json:"p50_ms"`
		P99       float64 `json:"p99_ms"`
		Max       float64 `json:"max_ms"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Positive(t, res.Requests)
	assert.Positive(t, res.PerSecond)
	assert.LessOrEqual(t, res.P50, res.P99)
	assert.LessOrEqual(t, res.P99, res.Max)
}

func TestBenchNoServer(t *testing.T) {
	r := zg(t, "bench", "--duration", "300ms", "--timeout", "100ms", "--inflight", "2", deadEndpoint(t))
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "no request was answered")
}

// TestBenchProgressOnTerminal runs bench under script(1), which gives it a
// terminal: the progress line appears there, and is cleared at the end.
func TestBenchProgressOnTerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not installed")
	}
	ep, _ := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// stdout goes to a file: only stderr is the terminal.
	out := filepath.Join(t.TempDir(), "out")
	shell := fmt.Sprintf("%s bench --duration 700ms %s > %s", binary, ep, out)
	tty, err := exec.CommandContext(ctx, scriptBin, "-qec", shell, "/dev/null").CombinedOutput()
	require.NoError(t, err, "%s", tty)
	assert.Regexp(t, `\r\s*\d+\.\ds\s+\d+ replies\s+\d+/s`, string(tty), "progress line")
	assert.True(t, bytes.HasSuffix(tty, []byte("\r\033[K")), "progress line cleared: %q", tty)
	res, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(res), "bench "+ep)
	assert.NotContains(t, string(res), "\r", "no progress on stdout")
}

// TestJSONFieldsDocumented checks that docs/CLI.md lists every field of the
// ping and bench --json output, and no field they do not print.
func TestJSONFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "CLI.md"))
	require.NoError(t, err)
	documented := func(cmd string) []string {
		sec := string(doc)[strings.Index(string(doc), "## "+cmd):]
		i := strings.Index(sec, "`--json`: `{")
		require.GreaterOrEqual(t, i, 0, "docs/CLI.md: no --json field list for %s", cmd)
		list := sec[i : i+strings.Index(sec[i:], "}`.")]
		var keys []string
		for _, m := range regexp.MustCompile(`"(\w+)"`).FindAllStringSubmatch(list, -1) {
			if m[1] != "seq" && m[1] != "rtt_ms" && m[1] != "error" { // inside "pings"
				keys = append(keys, m[1])
			}
		}
		return keys
	}
	keys := func(js string) []string {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(js), &m))
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	ep, _ := serve(t)
	r := zg(t, "ping", "--json", "--count", "1", ep)
	require.Equal(t, 0, r.code)
	assert.ElementsMatch(t, documented("ping"), keys(r.stdout))

	r = zg(t, "bench", "--json", "--duration", "200ms", ep)
	require.Equal(t, 0, r.code)
	// first_error and interrupted are omitted when empty.
	assert.ElementsMatch(t, documented("bench"), append(keys(r.stdout), "first_error", "interrupted"))
}

// clipLog shortens output for the test log.
func clipLog(s string) string {
	if len(s) > 4096 {
		return s[:4096] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}
