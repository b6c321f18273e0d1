// Package examples_test runs every example program and checks its exit
// code and the lines that show what it demonstrates. `make examples` runs
// it; `cd examples && go test ./...` does too.
package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// bin is the directory holding the example binaries, built once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zmqguard-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := func() int {
		defer os.RemoveAll(dir)
		// One go build for all: the packages share the build cache.
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
			"./lazypirate", "./timeout", "./server", "./curve", "./paranoid", "./zerocopy", "./majordomo")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		// goleak.VerifyTestMain calls os.Exit, which would skip the
		// clean-up: check for leaks by hand.
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

// run runs the example name with args; it must exit 0 within limit.
func run(t *testing.T, name string, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%s did not finish within %v:\n%s", name, limit, out.String())
	require.NoError(t, err, "%s failed:\n%s", name, out.String())
	t.Logf("%s finished in %v:\n%s", name, time.Since(start).Round(time.Millisecond), out.String())
	return out.String()
}

// section returns the lines of out from the one starting with head to the
// next line starting with "==".
func section(out, head string) string {
	i := strings.Index(out, head)
	if i < 0 {
		return ""
	}
	rest := out[i+len(head):]
	if j := strings.Index(rest, "\n=="); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestExamplesLazyPirate(t *testing.T) {
	out := run(t, "lazypirate", 30*time.Second)
	assert.Contains(t, out, "server schedule (seed 7): .CL.HH.X.L\n", "the schedule is seeded")
	assert.Contains(t, out, "server killed with SIGKILL (request 2)")
	assert.Contains(t, out, "server restarted")
	assert.Contains(t, out, "STUCK in RecvMessage")
	assert.Regexp(t, `pebbe/zmq4 REQ: STUCK after \d+ of 10 requests, cut off by a 1s watchdog`, out)
	for _, mode := range []string{"correlated", "plain"} {
		sec := section(out, "== zmqguard reliable.Client, "+mode+" mode")
		require.NotEmpty(t, sec, mode)
		for i := 1; i <= 10; i++ {
			assert.Regexp(t, fmt.Sprintf(`request %2d \[.\]: (answered in|GAVE UP after) .*; attempts \d, resets \d`, i), sec)
		}
		assert.Regexp(t, `zmqguard `+mode+`: completed: \d+ answered, \d+ gave up, no request hung`, out)
	}
	assert.Contains(t, section(out, "correlated mode"), "~ stale reply to request 3 attempt 1 arrived late: dropped")
	assert.Regexp(t, `request  3 \[L\]: answered .*; attempts [2-9], resets [1-9]; failed: #1 timed out`, section(out, "plain mode"))
	sum := section(out, "== summary")
	for _, col := range []string{"sent", "answered", "gave up", "p50", "p99", "recovery after crash"} {
		assert.Contains(t, sum, col)
	}
	assert.Regexp(t, `pebbe/zmq4 REQ\s+2\s+1\s+0 .* never: STUCK`, sum)
	assert.Regexp(t, `zmqguard correlated\s+10\s+\d+\s+\d+\s+\d+\s+0\s+[1-9]`, sum, "no resets, stale replies dropped")
	assert.Regexp(t, `zmqguard plain\s+10\s+\d+\s+\d+\s+\d+\s+[1-9]\d*\s+0`, sum, "resets, no stale replies")
}

func TestExamplesLazyPirateFlags(t *testing.T) {
	cmd := exec.Command(filepath.Join(bin, "lazypirate"), "-requests", "2")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 64, ee.ExitCode())
	assert.Contains(t, string(out), "-requests must be at least 6")
}

func TestExamplesParanoid(t *testing.T) {
	out := run(t, "paranoid", 30*time.Second)
	for _, name := range []string{"w1", "w2", "w3"} {
		assert.Contains(t, out, "liveness: "+name+": unknown -> alive")
	}
	// w2 is killed holding a request: declared dead, its request retried.
	assert.Regexp(t, `w2 took req-\d+: SIGKILL`, out)
	// Its connection closes with it: the queue forgets it at once.
	assert.Contains(t, out, "queue: w2 expired and forgotten")
	assert.Regexp(t, `liveness: w2: \w+ -> unknown \(forgotten by the queue\)`, out)
	assert.Regexp(t, `request +\d+: answered by w[13] in .* \(its first worker w2 was SIGKILLed holding it; the queue retried it\)`, out)
	// w3 is frozen holding a request: declared dead too, then back.
	assert.Regexp(t, `w3 took req-\d+: SIGSTOP`, out)
	assert.Regexp(t, `liveness: w3: (alive|suspect) -> dead`, out)
	assert.Regexp(t, `request +\d+: answered by w1 in .* \(its first worker w3 was SIGSTOPped holding it; the queue retried it\)`, out)
	assert.Contains(t, out, "SIGCONT w3")
	assert.Contains(t, out, "w3 is back")
	assert.Regexp(t, `queue: dropped w3's late reply|w3 reconnected: it drops the late reply itself`, out)
	for i := 1; i <= 16; i++ {
		assert.Regexp(t, fmt.Sprintf(`request %2d: answered by w[123] in`, i), out)
	}
	sum := section(out, "== summary")
	require.NotEmpty(t, sum)
	assert.Contains(t, sum, "requests answered        16 of 16")
	assert.Contains(t, sum, "requests failed          0")
	// A loaded machine may make a healthy worker miss heartbeats too.
	assert.Regexp(t, `worker deaths detected   [2-9] \(.*w2: connection closed.*\)`, sum)
	assert.Regexp(t, `worker deaths detected   [2-9] \(.*w3: silent.*\)`, sum)
	assert.Regexp(t, `requests retried         [2-9] `, sum)
	assert.Regexp(t, `workers alive at the end .*w1.*w3`, sum)
}

func TestExamplesMajordomo(t *testing.T) {
	out := run(t, "majordomo", 60*time.Second)
	assert.Contains(t, out, "primary broker: pair primary -> active on peer-backup")
	assert.Contains(t, out, "backup broker: pair backup -> passive on peer-active")
	// w2 is killed holding a request: the broker gives it to w1.
	assert.Regexp(t, `w2 took req-\d+: SIGKILL\n`, out)
	assert.Contains(t, out, "primary broker: a worker died holding a request: giving it to another worker")
	assert.Regexp(t, `request +\d+: answered by w1 via the primary broker in .*, attempt 1 \(its first worker w2 was SIGKILLed holding it; the broker gave it to w1\)`, out)
	// The active broker is killed while a worker holds request 7: the
	// client retries on the backup, which takes over.
	assert.Regexp(t, `w[12] took req-7: SIGKILL the active broker \(primary\)`, out)
	assert.Contains(t, out, "backup broker: pair passive -> active on client-request")
	assert.Regexp(t, `request  7: answered by w[12] via the backup broker in .*, attempt [2-4] \(the primary broker died while w[12] held it; the client retried on the other broker\)`, out)
	assert.Contains(t, out, "req-7 ran twice: once for the dead primary broker")
	// The primary comes back passive.
	assert.Contains(t, out, "primary broker restarted")
	assert.Contains(t, out, "primary broker: pair primary -> passive on peer-active")
	for i := 1; i <= 12; i++ {
		assert.Regexp(t, fmt.Sprintf(`request %2d: answered by w[12] via the (primary|backup) broker in`, i), out)
	}
	for i := 8; i <= 12; i++ {
		assert.Regexp(t, fmt.Sprintf(`request %2d: answered by w[12] via the backup broker`, i), out)
	}
	sum := section(out, "== summary")
	require.NotEmpty(t, sum)
	assert.Contains(t, sum, "requests answered        12 of 12")
	assert.Contains(t, sum, "requests failed          0")
	assert.Contains(t, sum, "broker killed            primary, while req-7 was held")
	assert.Contains(t, sum, "executions               14 for 12 requests")
	assert.Contains(t, sum, "active broker at the end backup")
}

func TestExamplesTimeout(t *testing.T) {
	out := run(t, "timeout", 20*time.Second)
	for _, line := range []string{
		"errors.Is(err, context.DeadlineExceeded): true",
		"errors.Is(err, os.ErrDeadlineExceeded): true",
		"net.Error with Timeout(): true",
		"errors.Is(err, context.Canceled): true",
		"errors.Is(err, net.ErrClosed): true",
		"waited at least 700µs: true, timed out: true",
		"done: no receive blocked longer than asked",
	} {
		assert.Contains(t, out, line)
	}
	assert.Equal(t, 5, len(regexp.MustCompile(`(?m)^\d\. `).FindAllString(out, -1)), "five scenarios")
}

func TestExamplesZeroCopy(t *testing.T) {
	out := run(t, "zerocopy", 20*time.Second)
	for _, line := range []string{
		"relayed 20 frames of 1048576 bytes, last one intact: true",
		"a second Close: zmq: message closed (errors.Is ErrMsgClosed: true)",
		"received 262144 bytes; the sender's buffer is still in use: true",
		"after the receiver let go, the tracker is done: the buffer may be reused",
		`"fits", more frames follow: true`,
		`"this frame is lo", truncated: true (the frame had 39 bytes)`,
		"received 2 frames; bodies from the pool: 2",
		`sent 64, received 64, last "event 63"`,
		"done",
	} {
		assert.Contains(t, out, line)
	}
	assert.Regexp(t, `Go allocations per relayed frame: 0\.\d\n`, out, "less than one allocation per frame (none in steady state)")
}

func TestExamplesServer(t *testing.T) {
	out := run(t, "server", 20*time.Second)
	for _, line := range []string{
		`-> reply "hello"`,
		`-> error reply: code "not_found", message "no account 42"`,
		`[server] handler panicked: runtime error: invalid memory address or nil pointer dereference (recovered`,
		`-> error reply: code "panic", message "handler panicked"`,
		`-> error reply: code "timeout", message "handler overran its 1s deadline"`,
		`-> error reply: code "handler", message "unknown command nonsense"`,
		`-> reply "charged 10 EUR (execution #1)"`,
		`plain REQ client: request "fail 7" -> ["ZGERR" "not_found" "no account 7"]`,
		"serve returned: reliable: server closed",
		"   panics             1\n",
		"   handler timeouts   1\n",
	} {
		assert.Contains(t, out, line)
	}
	// The retries' timing (at 400ms while the 600ms handler runs, at 800ms
	// after it finished) has 200ms of slack; on a loaded machine a retry
	// may land on the other side, so only the sum is exact.
	assert.Regexp(t, `\[server\] duplicate of request 1 attempt 2: (joined to the running request|answered from the reply cache)`, out)
	assert.Regexp(t, `duplicates         \d joined to the running request, \d answered from the cache`, out)
	assert.Regexp(t, `charge handler ran 1 time\(s\) for one request sent [3-9] time\(s\)`, out)
}

func TestExamplesCurve(t *testing.T) {
	out := run(t, "curve", 20*time.Second)
	if strings.Contains(out, "built without CURVE") {
		t.Skip("libzmq without CURVE")
	}
	assert.Contains(t, out, `CURVE client: reply "accepted card 4111-1111-1111-1111"`)
	assert.Contains(t, out, "request visible on the wire: false")
	assert.Contains(t, out, "reply visible on the wire: false")
	assert.Regexp(t, `client without CURVE: reliable: no reply .* \(no reply: true\)`, out)
	assert.Contains(t, out, "CURVE client with an unknown key: no reply: true")
	assert.Contains(t, out, "server: 1 request(s) received, 1 replied")
}
