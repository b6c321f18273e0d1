package reliable_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/procstat"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
)

// churnCycles is how many create/connect/reset/close cycles TestChurn runs:
// ZMQGUARD_CHURN, or defaultChurn (the normal suite's share; `make churn`
// runs 100k).
func churnCycles(t *testing.T) int {
	const defaultChurn = 20000
	v := os.Getenv("ZMQGUARD_CHURN")
	if v == "" {
		if testing.Short() {
			return defaultChurn / 10
		}
		return defaultChurn
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "ZMQGUARD_CHURN")
	return n
}

// TestChurn runs socket lifecycles through the self-healing REQ and the
// Client in both modes, against one in-process server over tcp, and checks
// that file descriptors, OS threads and goroutines stay flat. Each cycle
// is one of:
//
//   - ReqSocket: create, connect, request, a second send while the reply
//     is awaited (the socket resets itself), receive, close;
//   - Client (correlated): create (DEALER + monitor + reader), request,
//     close;
//   - Client (plain): create, request, close (the REQ is opened lazily).
func TestChurn(t *testing.T) {
	cycles := churnCycles(t)
	zctx := zmqtest.Context(t)
	srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", func(_ context.Context, req [][]byte) ([][]byte, error) {
		return req, nil
	})
	require.NoError(t, err)
	serveOn(t, srv, srv.Addr())
	addr := srv.Addr()

	cycle := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		body := []byte(strconv.Itoa(i))
		switch i % 3 {
		case 0:
			r, err := reliable.NewReqSocket(zctx)
			require.NoError(t, err)
			require.NoError(t, r.SetRcvtimeo(5*time.Second))
			require.NoError(t, r.Connect(addr))
			_, err = r.SendMessage("abandoned")
			require.NoError(t, err)
			_, err = r.SendMessage(body) // resets: the first reply is awaited
			require.NoError(t, err)
			require.Equal(t, 1, r.Resets())
			got, err := r.RecvMessageBytes(0)
			require.NoError(t, err)
			require.Equal(t, [][]byte{body}, got)
			require.NoError(t, r.Close())
		default:
			mode := reliable.Correlated
			if i%3 == 2 {
				mode = reliable.Plain
			}
			c, err := reliable.NewClient(zctx, []string{addr}, reliable.WithMode(mode),
				reliable.WithAttemptTimeout(5*time.Second))
			require.NoError(t, err)
			got, err := c.Request(ctx, body)
			require.NoError(t, err, "cycle %d (%v)", i, mode)
			require.Equal(t, [][]byte{body}, got)
			require.NoError(t, c.Close())
		}
	}

	// Warm up: the libzmq I/O threads, the runtime's threads and the
	// server's connection state reach their working size first.
	for i := range 300 {
		cycle(i)
	}
	before := settle()
	peak := before
	start := time.Now()
	for i := range cycles {
		cycle(i)
		if i%500 == 0 {
			peak = procstat.Max(peak, procstat.Read())
		}
	}
	elapsed := time.Since(start)
	after := settle()
	t.Logf("churn: %d cycles in %v (%.0f/s)", cycles, elapsed.Round(time.Millisecond), float64(cycles)/elapsed.Seconds())
	t.Logf("churn: before %v", before)
	t.Logf("churn: peak   %v", peak)
	t.Logf("churn: after  %v", after)
	t.Logf("churn: server %+v", srv.Stats())

	// Slack: a few fds for connections the server has not yet seen close,
	// the runtime may add a thread or two under load, goroutines exit
	// asynchronously (settle waits for them).
	assert.LessOrEqual(t, after.FDs, before.FDs+4, "file descriptors grew")
	assert.LessOrEqual(t, after.Threads, before.Threads+4, "threads grew")
	assert.LessOrEqual(t, after.Goroutines, before.Goroutines+2, "goroutines grew")
}

// settle waits (bounded) until the goroutine and fd counts stop falling,
// then samples: closed sockets release their fds in libzmq's I/O threads
// and the server notices closed connections asynchronously.
func settle() procstat.Sample {
	runtime.GC()
	s := procstat.Read()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling a count: no event to await
		n := procstat.Read()
		if n.FDs >= s.FDs && n.Goroutines >= s.Goroutines {
			return n
		}
		s = n
	}
	return s
}
