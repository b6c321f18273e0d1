package timeout_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// blockingOp is a call that blocks until its ctx ends, and the socket it
// blocks on.
type blockingOp struct {
	name  string
	setup func(t *testing.T, c *zmq.Context, tr string) (call func(ctx context.Context) error, s *zmq.Socket)
}

// idlePull is a PULL socket with a connected PUSH peer that sends nothing.
func idlePull(t *testing.T, c *zmq.Context, tr string) *zmq.Socket {
	pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
	return pull
}

// stuckPush is a bound PUSH socket without peers: sends wait for one.
func stuckPush(t *testing.T, c *zmq.Context, tr string) *zmq.Socket {
	push := zmqtest.Socket(t, c, zmq.PUSH)
	zmqtest.Bind(t, push, tr)
	return push
}

// mute is a REP socket that never answers.
func mute(t *testing.T, c *zmq.Context, tr string) (rep, req *zmq.Socket) {
	return zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
}

var blockingOps = []blockingOp{
	{"RecvBytes", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := idlePull(t, c, tr)
		return func(ctx context.Context) error { _, err := timeout.RecvBytes(ctx, s); return err }, s
	}},
	{"Recv", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := idlePull(t, c, tr)
		return func(ctx context.Context) error { _, err := timeout.Recv(ctx, s); return err }, s
	}},
	{"RecvMessage", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := idlePull(t, c, tr)
		return func(ctx context.Context) error { _, err := timeout.RecvMessage(ctx, s); return err }, s
	}},
	{"RecvMessageBytes", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := idlePull(t, c, tr)
		return func(ctx context.Context) error { _, err := timeout.RecvMessageBytes(ctx, s); return err }, s
	}},
	{"Send", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := stuckPush(t, c, tr)
		return func(ctx context.Context) error { return timeout.Send(ctx, s, "x") }, s
	}},
	{"SendBytes", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := stuckPush(t, c, tr)
		return func(ctx context.Context) error { return timeout.SendBytes(ctx, s, []byte("x")) }, s
	}},
	{"SendMessage", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := stuckPush(t, c, tr)
		return func(ctx context.Context) error { return timeout.SendMessage(ctx, s, "a", []byte("b"), 3) }, s
	}},
	{"Request/send", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := zmqtest.Socket(t, c, zmq.REQ)
		zmqtest.Bind(t, s, tr) // no peer: the request cannot be sent
		return func(ctx context.Context) error { _, err := timeout.Request(ctx, s, "ping"); return err }, s
	}},
	{"Request/recv", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		_, s := mute(t, c, tr)
		return func(ctx context.Context) error { _, err := timeout.Request(ctx, s, "ping"); return err }, s
	}},
	{"RecvMessageBytesUntil", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := idlePull(t, c, tr)
		return func(ctx context.Context) error {
			_, err := timeout.RecvMessageBytesUntil(ctx, s, time.Now().Add(time.Hour))
			return err
		}, s
	}},
	{"SendMessageUntil", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := stuckPush(t, c, tr)
		return func(ctx context.Context) error {
			return timeout.SendMessageUntil(ctx, s, time.Now().Add(time.Hour), "a", "b")
		}, s
	}},
	{"Wait", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := idlePull(t, c, tr)
		return func(ctx context.Context) error { _, err := timeout.Wait(ctx, s, zmq.POLLIN); return err }, s
	}},
	{"WaitUntil", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
		s := stuckPush(t, c, tr)
		return func(ctx context.Context) error {
			_, err := timeout.WaitUntil(ctx, s, time.Now().Add(time.Hour), zmq.POLLOUT)
			return err
		}, s
	}},
}

func forEachOp(t *testing.T, f func(t *testing.T, c *zmq.Context, op blockingOp, tr string)) {
	for _, op := range blockingOps {
		t.Run(op.name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr string) {
				f(t, zmqtest.Context(t), op, tr)
			})
		})
	}
}

func TestDoneContextReturnsAtOnce(t *testing.T) {
	forEachOp(t, func(t *testing.T, c *zmq.Context, op blockingOp, tr string) {
		call, _ := op.setup(t, c, tr)

		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		err := call(canceled)
		assert.Less(t, time.Since(start), slack)
		assertCanceled(t, err)

		expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel2()
		start = time.Now()
		err = call(expired)
		assert.Less(t, time.Since(start), slack)
		assertDeadline(t, expired, err)
	})
}

// A done ctx does not touch libzmq: a queued message stays queued, and
// nothing is sent.
func TestDoneContextLeavesSocketAlone(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()

		require.ErrorIs(t, timeout.SendMessage(done, push, "lost", "message"), context.Canceled)
		require.ErrorIs(t, timeout.Send(done, push, "lost"), context.Canceled)
		require.NoError(t, timeout.SendMessage(ctx, push, "first", "message"))
		_, err := timeout.RecvMessage(done, pull)
		require.ErrorIs(t, err, context.Canceled)
		_, err = timeout.RecvBytes(done, pull)
		require.ErrorIs(t, err, context.Canceled)

		msg, err := timeout.RecvMessage(ctx, pull)
		require.NoError(t, err)
		assert.Equal(t, []string{"first", "message"}, msg, "the done calls neither sent nor consumed anything")

		// A done ctx wins even over a closed socket: libzmq is not asked.
		require.NoError(t, pull.Close())
		_, err = timeout.RecvBytes(done, pull)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, net.ErrClosed)
	})
}

func TestDeadlineBoundsWait(t *testing.T) {
	const d = 100 * time.Millisecond
	forEachOp(t, func(t *testing.T, c *zmq.Context, op blockingOp, tr string) {
		call, _ := op.setup(t, c, tr)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		err := call(ctx)
		assertWithin(t, time.Since(start), d)
		assertDeadline(t, ctx, err)
	})
}

// The remaining deadline, not a fresh timeout, bounds each call: a ctx
// shared by consecutive calls ends them all at the same instant.
func TestRemainingDeadlineBoundsWait(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		deadline, _ := ctx.Deadline()
		require.NoError(t, timeout.Send(ctx, push, "one"))
		_, err := timeout.RecvBytes(ctx, pull)
		require.NoError(t, err)
		_, err = timeout.RecvBytes(ctx, pull)
		assertDeadline(t, ctx, err)
		late := time.Since(deadline)
		assert.GreaterOrEqual(t, late, time.Duration(0))
		assert.Less(t, late, slack)
		// Once it has passed, every call fails at once.
		start := time.Now()
		_, err = timeout.RecvBytes(ctx, pull)
		assertDeadline(t, ctx, err)
		assert.Less(t, time.Since(start), slack)
	})
}

func TestCancelWakesAtOnce(t *testing.T) {
	forEachOp(t, func(t *testing.T, c *zmq.Context, op blockingOp, tr string) {
		call, _ := op.setup(t, c, tr)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := returnsOf(func() error { return call(ctx) })
		waitParked(t, 1)
		at := time.Now()
		cancel()
		r := await(t, ch)
		assert.Less(t, r.at.Sub(at), slack)
		assertCanceled(t, r.err)
		var ne net.Error
		require.True(t, errors.As(r.err, &ne))
		assert.False(t, ne.Timeout(), "a cancellation is not a timeout")
	})
}

// Cancelling a ctx that also has a deadline wakes the call at once too.
func TestCancelBeforeDeadlineWakes(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull := idlePull(t, c, tr)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		ch := returnsOf(func() error { _, err := timeout.RecvMessageBytes(ctx, pull); return err })
		waitParked(t, 1)
		at := time.Now()
		cancel()
		r := await(t, ch)
		assert.Less(t, r.at.Sub(at), slack)
		assertCanceled(t, r.err)
	})
}

func TestCloseWakesBlockedCall(t *testing.T) {
	forEachOp(t, func(t *testing.T, c *zmq.Context, op blockingOp, tr string) {
		call, s := op.setup(t, c, tr)
		ch := returnsOf(func() error { return call(context.Background()) })
		waitParked(t, 1)
		at := time.Now()
		require.NoError(t, s.Close())
		r := await(t, ch)
		assert.Less(t, r.at.Sub(at), slack)
		assert.ErrorIs(t, r.err, net.ErrClosed)
		// Later calls fail the same way, and Close stays idempotent.
		assert.ErrorIs(t, call(context.Background()), net.ErrClosed)
		assert.NoError(t, s.Close())
	})
}

// Close races with calls that are busy moving messages, in every phase of
// a call. Nothing may crash, and every call ends with success or an error
// matching net.ErrClosed.
func TestCloseRacesBusyCalls(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := range 30 {
			pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
			sent := returnsOf(func() error {
				for {
					if err := timeout.SendMessage(ctx, push, "a", "b", "c"); err != nil {
						return err
					}
				}
			})
			progressed := make(chan struct{})
			got := returnsOf(func() error {
				for n := 0; ; n++ {
					if n == i%7 {
						close(progressed)
					}
					m, err := timeout.RecvMessageBytes(ctx, pull)
					if err != nil {
						return err
					}
					if len(m) != 3 {
						return errors.New("torn message")
					}
				}
			})
			// Close after a number of messages that varies from round to
			// round, so that Close meets the calls in different phases.
			<-progressed
			require.NoError(t, pull.Close())
			require.NoError(t, push.Close())
			assert.ErrorIs(t, await(t, got).err, net.ErrClosed)
			assert.ErrorIs(t, await(t, sent).err, net.ErrClosed)
		}
	})
}

// A socket's own timeout (SetRcvtimeo, SetSndtimeo) is the default: it
// applies only when ctx has no deadline.
func TestDefaultOnlyWithoutDeadline(t *testing.T) {
	const def = 300 * time.Millisecond
	ops := []struct {
		name  string
		setup func(t *testing.T, c *zmq.Context, tr string) func(ctx context.Context) error
	}{
		{"RecvBytes", func(t *testing.T, c *zmq.Context, tr string) func(ctx context.Context) error {
			s := idlePull(t, c, tr)
			require.NoError(t, s.SetRcvtimeo(def))
			require.NoError(t, s.SetSndtimeo(time.Hour)) // the other direction's: no effect
			return func(ctx context.Context) error { _, err := timeout.RecvBytes(ctx, s); return err }
		}},
		{"SendMessage", func(t *testing.T, c *zmq.Context, tr string) func(ctx context.Context) error {
			s := stuckPush(t, c, tr)
			require.NoError(t, s.SetSndtimeo(def))
			require.NoError(t, s.SetRcvtimeo(time.Hour))
			return func(ctx context.Context) error { return timeout.SendMessage(ctx, s, "a", "b") }
		}},
	}
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want time.Duration
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }, def},
		{"cancelable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, def},
		{"shorter deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), def/6)
		}, def / 6},
		{"longer deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 2*def)
		}, 2 * def},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr string) {
				call := op.setup(t, zmqtest.Context(t), tr)
				for _, tc := range cases {
					t.Run(tc.name, func(t *testing.T) {
						start := time.Now()
						ctx, cancel := tc.ctx()
						defer cancel()
						err := call(ctx)
						el := time.Since(start)
						assertWithin(t, el, tc.want)
						if tc.want < def {
							assert.Less(t, el, def, "the ctx deadline, not the default, ended the call")
						}
						assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
						if _, ok := ctx.Deadline(); ok {
							assertDeadline(t, ctx, err)
						} else {
							assert.NotErrorIs(t, err, context.DeadlineExceeded, "the default, not ctx, ended the call")
							assert.NoError(t, ctx.Err())
						}
					})
				}
			})
		})
	}
}

// A timeout caused by ctx's deadline matches both os.ErrDeadlineExceeded
// and context.DeadlineExceeded, and ctx.Err() says so by the time the call
// returns, every time: even when the netpoller wakes the call before ctx's
// own timer has fired (see internal/ctxerr).
func TestDeadlineErrorAlwaysMatchesCtx(t *testing.T) {
	ops := []blockingOp{
		{"RecvBytes", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
			s := idlePull(t, c, tr)
			return func(ctx context.Context) error { _, err := timeout.RecvBytes(ctx, s); return err }, s
		}},
		{"SendMessage", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
			s := stuckPush(t, c, tr) // no peer: the send waits for one
			return func(ctx context.Context) error { return timeout.SendMessage(ctx, s, "a", []byte("b")) }, s
		}},
		{"Wait", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
			s := idlePull(t, c, tr)
			return func(ctx context.Context) error { _, err := timeout.Wait(ctx, s, zmq.POLLIN); return err }, s
		}},
		{"Request/send", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
			s := zmqtest.Socket(t, c, zmq.REQ)
			zmqtest.Bind(t, s, tr) // no peer: the request cannot be sent
			return func(ctx context.Context) error { _, err := timeout.Request(ctx, s, "ping"); return err }, s
		}},
		{"Request/recv", func(t *testing.T, c *zmq.Context, tr string) (func(context.Context) error, *zmq.Socket) {
			// A DEALER, so that each request goes out although the
			// last one got no reply.
			_, s := zmqtest.Pair(t, c, tr, zmq.REP, zmq.DEALER)
			return func(ctx context.Context) error { _, err := timeout.Request(ctx, s, "", "ping"); return err }, s
		}},
	}
	c := zmqtest.Context(t)
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			call, _ := op.setup(t, c, "inproc")
			for range 200 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				err := call(ctx)
				ctxErr := ctx.Err() // at return, before cancel can set it
				cancel()
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.ErrorIs(t, ctxErr, context.DeadlineExceeded, "ctx.Err() at return")
			}
		})
	}
}
