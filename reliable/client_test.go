package reliable_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

var modes = []reliable.Mode{reliable.Correlated, reliable.Plain}

func forEachMode(t *testing.T, f func(t *testing.T, mode reliable.Mode)) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) { f(t, m) })
	}
}

// echoServer runs an in-process REP echo server until the test ends.
func echoServer(t *testing.T, zctx *zmq.Context, transport string) string {
	t.Helper()
	rep := zmqtest.Socket(t, zctx, zmq.REP)
	ep := zmqtest.Bind(t, rep, transport)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := timeout.RecvMessageBytes(ctx, rep)
			if err != nil {
				return
			}
			if err := timeout.SendMessage(ctx, rep, msg); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ep
}

func newClient(t *testing.T, zctx *zmq.Context, eps []string, opts ...reliable.ClientOption) *reliable.Client {
	t.Helper()
	c, err := reliable.NewClient(zctx, eps, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientHappyPath(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		for _, tr := range zmqtest.Transports {
			t.Run(tr, func(t *testing.T) {
				zctx := zmqtest.Context(t)
				ep := echoServer(t, zctx, tr)
				c := newClient(t, zctx, []string{ep}, reliable.WithMode(mode))
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range 50 {
							body := fmt.Sprintf("g%d-%d", g, i)
							rep, err := c.Request(context.Background(), []byte("hdr"), []byte(body))
							if !assert.NoError(t, err) {
								return
							}
							assert.Equal(t, [][]byte{[]byte("hdr"), []byte(body)}, rep)
						}
					}()
				}
				wg.Wait()
				st := c.Stats()
				assert.EqualValues(t, 400, st.Requests)
				assert.EqualValues(t, 400, st.Replies)
				assert.Zero(t, st.GiveUps)
			})
		}
	})
}

// TestClientOptionsValidated: NewClient refuses a nil option, and every
// option an invalid value, with an error that errors.As finds a
// *zmq.OptionError in, naming the option.
func TestClientOptionsValidated(t *testing.T) {
	zctx := zmqtest.Context(t)
	for name, o := range map[string]reliable.ClientOption{
		"<nil>":                   nil,
		"WithAttemptTimeout":      reliable.WithAttemptTimeout(0),
		"WithMaxAttempts":         reliable.WithMaxAttempts(0),
		"WithMode":                reliable.WithMode(7),
		"WithReconnectInterval":   reliable.WithReconnectInterval(-1),
		"WithHWM":                 reliable.WithHWM(0),
		"WithLiveness":            reliable.WithLiveness(nil),
		"WithBackoff":             reliable.WithBackoff(reliable.Backoff{Multiplier: 0.5}),
		"WithBackoff/max":         reliable.WithBackoff(reliable.Backoff{Initial: time.Second, Max: time.Millisecond}),
		"WithBackoff/initial":     reliable.WithBackoff(reliable.Backoff{Initial: -1}),
		"WithBackoff/jitter":      reliable.WithBackoff(reliable.Backoff{Jitter: 1.5}),
		"WithBackoff/inf":         reliable.WithBackoff(reliable.Backoff{Multiplier: math.Inf(1)}),
		"WithBackoff/nan-jitter":  reliable.WithBackoff(reliable.Backoff{Jitter: math.NaN()}),
		"WithBackoff/negative-mx": reliable.WithBackoff(reliable.Backoff{Max: -time.Second}),
	} {
		c, err := reliable.NewClient(zctx, []string{"inproc://x"}, o)
		var oe *zmq.OptionError
		if assert.True(t, errors.As(err, &oe), "%s: %v", name, err) {
			want, _, _ := strings.Cut(name, "/")
			assert.Equal(t, want, oe.Option)
		}
		if c != nil {
			c.Close()
		}
	}
	_, err := reliable.NewClient(zctx, nil)
	assert.Error(t, err)
}

// TestClientServerNeverReplies: every attempt times out, the error says so.
// (The context's deadline, later than the 3 attempts can take, is the
// request's budget: time spent connecting, long on a loaded machine, does
// not cut the number of attempts.)
func TestClientServerNeverReplies(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		peer := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Mute: true})
		zctx := zmqtest.Context(t)
		c := newClient(t, zctx, []string{peer.Endpoint}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(300*time.Millisecond), reliable.WithMaxAttempts(3),
			reliable.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, Jitter: -1}))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Request(ctx, []byte("lost"))
		el := time.Since(start)
		require.Error(t, err)
		assert.ErrorIs(t, err, reliable.ErrNoReply)
		if mode == reliable.Correlated {
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		} else {
			// After a reset the new REQ reconnects; on a loaded machine
			// that can take the whole attempt.
			assert.True(t, errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, reliable.ErrNotConnected), "%v", err)
		}
		var nr *reliable.NoReplyError
		require.ErrorAs(t, err, &nr)
		assert.Equal(t, 3, nr.Attempts)
		assert.GreaterOrEqual(t, el, 900*time.Millisecond)
		assert.Less(t, el, 5*time.Second)
		// A REP server reads one request at a time: the mute one executed
		// the first attempt only; the others wait unread in its queue.
		assert.Equal(t, 1, peer.WaitExecutions("lost", 1, time.Second))
		st := c.Stats()
		assert.EqualValues(t, 3, st.Timeouts+st.FailedFast)
	})
}

// TestClientServerHangs: the server answers, then hangs; requests give up
// within their bounds, and the context bounds the whole call.
func TestClientServerHangs(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		peer := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", HangAfter: 1})
		zctx := zmqtest.Context(t)
		c := newClient(t, zctx, []string{peer.Endpoint}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(time.Second), reliable.WithMaxAttempts(5))
		rep, err := c.Request(context.Background(), []byte("one"))
		require.NoError(t, err)
		assert.Equal(t, "one", string(rep[0]))

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.Request(ctx, []byte("two"))
		el := time.Since(start)
		assert.ErrorIs(t, err, reliable.ErrNoReply)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the ctx ended the call")
		assert.GreaterOrEqual(t, el, 300*time.Millisecond)
		assert.Less(t, el, 900*time.Millisecond)
		assert.Equal(t, 1, peer.WaitExecutions("two", 1, time.Second))
	})
}

// TestClientLateReplyIsNotReturned: the server answers the first attempt
// after the client retried; the client returns the retry's answer and
// never the stale one.
func TestClientLateReplyIsNotReturned(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		peer := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Socket: "router",
			Delay: 400 * time.Millisecond, DelayFirst: 1})
		zctx := zmqtest.Context(t)
		var events []string
		var mu sync.Mutex
		c := newClient(t, zctx, []string{peer.Endpoint}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(200*time.Millisecond), reliable.WithMaxAttempts(4),
			reliable.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Jitter: -1}),
			reliable.WithEventHook(func(e reliable.ClientEvent) {
				mu.Lock()
				events = append(events, fmt.Sprintf("%v#%d", e.Kind, e.Attempt))
				mu.Unlock()
			}))
		rep, err := c.Request(context.Background(), []byte("slow"))
		require.NoError(t, err)
		assert.Equal(t, "slow", string(rep[len(rep)-1]))
		// A second request gets its own reply, not a leftover.
		rep, err = c.Request(context.Background(), []byte("next"))
		require.NoError(t, err)
		assert.Equal(t, "next", string(rep[len(rep)-1]))
		st := c.Stats()
		assert.GreaterOrEqual(t, st.Timeouts, uint64(1))
		if mode == reliable.Correlated {
			// The late answer reached the client and was dropped. Wait for
			// it: the server sends it at ~400 ms.
			require.Eventually(t, func() bool { return c.Stats().StaleDropped >= 1 }, 2*time.Second, 5*time.Millisecond)
		} else {
			assert.GreaterOrEqual(t, st.Resets, uint64(1), "plain mode resets instead")
		}
		mu.Lock()
		t.Logf("events: %s", strings.Join(events, " "))
		mu.Unlock()
		assert.Equal(t, 1, peer.WaitExecutions("next", 1, time.Second))
	})
}

// TestClientEndpointNeverExisted: nothing listens; the request waits for a
// connection for its whole budget (attempts × attempt timeout), sends no
// attempt, and gives up with ErrNotConnected.
func TestClientEndpointNeverExisted(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		c := newClient(t, zctx, []string{"tcp://127.0.0.1:1"}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(100*time.Millisecond), reliable.WithMaxAttempts(2),
			reliable.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Jitter: -1}))
		start := time.Now()
		_, err := c.Request(context.Background(), []byte("x"))
		el := time.Since(start)
		assert.ErrorIs(t, err, reliable.ErrNoReply)
		assert.ErrorIs(t, err, reliable.ErrNotConnected)
		var nr *reliable.NoReplyError
		require.ErrorAs(t, err, &nr)
		assert.Zero(t, nr.Attempts)
		assert.Zero(t, c.Stats().Attempts)
		assert.GreaterOrEqual(t, el, 200*time.Millisecond)
		assert.Less(t, el, 2*time.Second)
	})
}

// TestClientFailover: one of three endpoints is dead; every request is
// answered, and the health record keeps the dead one from being tried
// first again and again.
func TestClientFailover(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		p1 := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*"})
		p2 := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*"})
		dead := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*"})
		deadEP := dead.Endpoint
		dead.Kill()
		zctx := zmqtest.Context(t)
		var deadAttempts atomic.Int64
		c := newClient(t, zctx, []string{deadEP, p1.Endpoint, p2.Endpoint}, reliable.WithMode(mode),
			// Long enough that a live but loaded server is not taken for a
			// dead one (which would execute the request twice: echo
			// servers do not suppress duplicates).
			reliable.WithAttemptTimeout(time.Second),
			reliable.WithBackoff(reliable.Backoff{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond, Jitter: -1}),
			reliable.WithEventHook(func(e reliable.ClientEvent) {
				if e.Kind == reliable.EventAttempt && e.Endpoint == deadEP {
					deadAttempts.Add(1)
				}
			}))
		for i := range 30 {
			body := fmt.Sprintf("r%d", i)
			rep, err := c.Request(context.Background(), []byte(body))
			require.NoError(t, err)
			assert.Equal(t, body, string(rep[0]))
			got := p1.WaitExecutions(body, 1, 50*time.Millisecond) + p2.WaitExecutions(body, 1, 50*time.Millisecond)
			assert.Equal(t, 1, got, "executed exactly once")
		}
		assert.LessOrEqual(t, deadAttempts.Load(), int64(3), "dead endpoint not tried first every time")
		if mode == reliable.Correlated {
			// Healthy endpoints share the load (least recently used first);
			// plain mode stays on the connection that works.
			assert.Greater(t, p1.TotalExecutions(), 0)
			assert.Greater(t, p2.TotalExecutions(), 0)
		}
	})
}

// TestClientServerKilledMidRequest: the server is SIGKILLed while it
// executes a request and restarted on the same endpoint; the request is
// answered by the new process, which executes it once.
func TestClientServerKilledMidRequest(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		first := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Delay: 10 * time.Second, DelayFirst: 1})
		zctx := zmqtest.Context(t)
		c := newClient(t, zctx, []string{first.Endpoint}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(2*time.Second), reliable.WithMaxAttempts(3))
		type result struct {
			rep [][]byte
			err error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			rep, err := c.Request(context.Background(), []byte("crash"))
			done <- result{rep, err}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := first.AwaitExec(ctx)
		require.NoError(t, err)
		first.Kill()
		second := testpeer.Start(t, testpeer.Behaviour{Bind: first.Endpoint})
		r := <-done
		require.NoError(t, r.err)
		assert.Equal(t, "crash", string(r.rep[0]))
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Equal(t, 1, first.Executions("crash"))
		assert.Equal(t, 1, second.WaitExecutions("crash", 1, time.Second))
		if mode == reliable.Correlated {
			assert.GreaterOrEqual(t, c.Stats().FailedFast, uint64(1), "disconnect ended the attempt early")
		}
	})
}

// TestClientRecoveryTime measures, over 20 kill/restart cycles, the time
// from a restarted server being ready to the client's first good reply.
func TestClientRecoveryTime(t *testing.T) {
	if testing.Short() {
		t.Skip("20 process restarts")
	}
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		peer := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*"})
		ep := peer.Endpoint
		c := newClient(t, zctx, []string{ep}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(2*time.Second), reliable.WithMaxAttempts(5))
		_, err := c.Request(context.Background(), []byte("warm"))
		require.NoError(t, err)
		var recov []time.Duration
		for cycle := range 20 {
			peer.Kill()
			done := make(chan error, 1)
			go func() {
				_, err := c.Request(context.Background(), []byte(fmt.Sprintf("c%d", cycle)))
				done <- err
			}()
			peer = testpeer.Start(t, testpeer.Behaviour{Bind: ep})
			ready := time.Now()
			require.NoError(t, <-done)
			recov = append(recov, time.Since(ready))
		}
		sort.Slice(recov, func(i, j int) bool { return recov[i] < recov[j] })
		p50, max := recov[len(recov)/2], recov[len(recov)-1]
		t.Logf("%v recovery after restart over %d cycles: p50 %v, max %v", mode, len(recov), p50, max)
		assert.Less(t, p50, 500*time.Millisecond, "goal is < 250 ms with a 100 ms reconnect interval")
	})
}

func TestClientContextAlreadyDone(t *testing.T) {
	zctx := zmqtest.Context(t)
	c := newClient(t, zctx, []string{"inproc://nobody"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Request(ctx, []byte("x"))
	assert.ErrorIs(t, err, reliable.ErrNoReply)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, c.Close())
	_, err = c.Request(context.Background(), []byte("x"))
	assert.ErrorIs(t, err, reliable.ErrClientClosed)
	assert.True(t, errors.Is(c.Close(), nil), "Close is idempotent")
}

// TestClientContextDeadlineIsVisible: a request ended by its context's
// deadline returns an error matching context.DeadlineExceeded, and by then
// ctx.Err() says so too (a socket's wait can end a moment before the
// context's timer marks it done; a caller checking ctx.Err() must not
// take that for a failure of its own).
func TestClientContextDeadlineIsVisible(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		mute := zmqtest.Socket(t, zctx, zmq.ROUTER) // reads nothing, answers nothing
		ep := zmqtest.Bind(t, mute, "tcp")
		c := newClient(t, zctx, []string{ep}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(time.Minute), reliable.WithMaxAttempts(1))
		for i := range 40 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(2+i%5)*time.Millisecond)
			_, err := c.Request(ctx, []byte("x"))
			ctxErr := ctx.Err()
			cancel()
			require.ErrorIs(t, err, reliable.ErrNoReply)
			require.ErrorIs(t, err, context.DeadlineExceeded, "request %d", i)
			require.ErrorIs(t, ctxErr, context.DeadlineExceeded, "request %d: ctx not done when the request returned", i)
		}
	})
}

// TestClientCloseEndsRequestsInFlight: Close returns promptly while requests
// wait for replies that will never come, and each of them returns
// ErrClientClosed (not a retry, not a timeout).
func TestClientCloseEndsRequestsInFlight(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		mute := zmqtest.Socket(t, zctx, zmq.ROUTER) // reads nothing, answers nothing
		ep := zmqtest.Bind(t, mute, "tcp")
		c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(10*time.Second), reliable.WithMaxAttempts(3))
		require.NoError(t, err)
		n := 16
		if mode == reliable.Plain {
			n = 2 // one in flight, one waiting for its turn
		}
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := c.Request(context.Background(), []byte("x"))
				errs <- err
			}()
		}
		require.Eventually(t, func() bool { return c.Stats().Attempts >= 1 }, 5*time.Second, time.Millisecond)
		start := time.Now()
		require.NoError(t, c.Close())
		assert.Less(t, time.Since(start), 2*time.Second, "Close waited for the requests' timeouts")
		for range n {
			select {
			case err := <-errs:
				assert.ErrorIs(t, err, reliable.ErrClientClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("a request in flight did not end after Close")
			}
		}
	})
}
