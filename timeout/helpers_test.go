package timeout_test

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// slack is how late a call may return after its deadline, or after the
// cancellation or Close that should wake it. Generous: the suite runs
// under -race on two cores that other packages' tests share, where a
// goroutine can wait hundreds of milliseconds for a CPU; typical values
// are under a few milliseconds (see the stress tests' logs). A lost
// wake-up never returns at all.
const slack = time.Second

func forEachTransport(t *testing.T, f func(t *testing.T, tr string)) {
	for _, tr := range zmqtest.Transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

// waitParked waits until n goroutines are parked in the netpoller on a
// socket's ZMQ_FD. It polls goroutine stacks: a call that is about to park
// cannot be observed otherwise, and sleeping instead would only guess.
func waitParked(t testing.TB, n int) {
	t.Helper()
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, full := parkedWaiters(buf)
		if full {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines never parked on ZMQ_FD", n)
		}
		time.Sleep(100 * time.Microsecond) // poll interval, not synchronisation
	}
}

// waitParkedUntil waits until n goroutines are parked on a ZMQ_FD, or the
// deadline passes, and returns how many were parked last.
func waitParkedUntil(n int, deadline time.Time) int {
	buf := make([]byte, 64<<10)
	got := 0
	for {
		var full bool
		if got, full = parkedWaiters(buf); full {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if got >= n || !time.Now().Before(deadline) {
			return got
		}
		time.Sleep(time.Millisecond) // poll interval, not synchronisation
	}
}

// parkedWaiters counts the goroutines parked on a ZMQ_FD. full reports a
// buffer too small for all stacks.
func parkedWaiters(buf []byte) (n int, full bool) {
	l := runtime.Stack(buf, true)
	if l == len(buf) {
		return 0, true
	}
	stacks := string(buf[:l])
	for _, g := range strings.Split(stacks, "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[IO wait") && strings.Contains(g, "engine.(*waiter).wait") {
			n++
		}
	}
	return n, false
}

// assertDeadline checks that err is a timeout caused by a ctx deadline.
func assertDeadline(t testing.TB, ctx context.Context, err error) {
	t.Helper()
	require.Error(t, err)
	var te *zmq.TimeoutError
	assert.True(t, errors.As(err, &te), "want *zmq.TimeoutError, got %T %v", err, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Error(t, ctx.Err(), "ctx reports its deadline by the time the call returns")
	assert.ErrorIs(t, err, ctx.Err())
	var ne net.Error
	if assert.True(t, errors.As(err, &ne)) {
		assert.True(t, ne.Timeout())
	}
}

// assertCanceled checks that err reports a cancelled ctx.
func assertCanceled(t testing.TB, err error) {
	t.Helper()
	require.Error(t, err)
	var te *zmq.TimeoutError
	assert.True(t, errors.As(err, &te), "want *zmq.TimeoutError, got %T %v", err, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)
}

// assertWithin checks lo <= el < lo+slack.
func assertWithin(t testing.TB, el, lo time.Duration) {
	t.Helper()
	assert.GreaterOrEqual(t, el, lo, "returned before its deadline")
	assert.Less(t, el, lo+slack, "returned late")
}

// echo serves s (REP or ROUTER) until the test ends: every message is
// sent back as it came.
func echo(t testing.TB, s *zmq.Socket) {
	serve(t, s, func(m [][]byte) [][]byte { return m })
}

// serve answers every message on s with reply(message), or not at all when
// reply returns nil, until the test ends.
func serve(t testing.TB, s *zmq.Socket, reply func([][]byte) [][]byte) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := timeout.RecvMessageBytes(ctx, s)
			if err != nil {
				return
			}
			if r := reply(m); r != nil {
				if err := timeout.SendMessage(ctx, s, r); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// returnsOf runs f in a goroutine and returns a channel with its error and
// how long it took, measured from when the goroutine started.
func returnsOf(f func() error) <-chan result {
	ch := make(chan result, 1)
	go func() {
		start := time.Now()
		err := f()
		ch <- result{err, time.Since(start), time.Now()}
	}()
	return ch
}

type result struct {
	err error
	el  time.Duration
	at  time.Time
}

func await(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("call never returned")
		return result{}
	}
}
