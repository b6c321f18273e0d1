package reliable_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

func forEachServerTransport(t *testing.T, f func(t *testing.T, transport string)) {
	for _, tr := range zmqtest.Transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

func TestServerEcho(t *testing.T) {
	forEachServerTransport(t, func(t *testing.T, tr string) {
		zctx := zmqtest.Context(t)
		s := listen(t, zctx, tr, echoUpper)
		p := newPeer(t, zctx, s.addr)
		for seq := uint64(1); seq <= 3; seq++ {
			r := p.call(seq, "hello", fmt.Sprint(seq))
			assert.Equal(t, wire.KindReply, r.kind)
			assert.Equal(t, []string{"HELLO", fmt.Sprint(seq)}, r.body)
		}
		st := s.srv.Stats()
		assert.EqualValues(t, 3, st.Requests)
		assert.EqualValues(t, 3, st.Executed)
		assert.EqualValues(t, 3, st.Replies)
		assert.Zero(t, st.ErrorReplies)
	})
}

func TestServerEmptyReplyIsOneEmptyFrame(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "inproc", func(context.Context, [][]byte) ([][]byte, error) { return nil, nil })
	r := newPeer(t, zctx, s.addr).call(1, "x")
	assert.Equal(t, wire.KindReply, r.kind)
	assert.Equal(t, []string{""}, r.body)
}

// quotaError is an application error that chooses its own error reply,
// as grpc-go status errors do with GRPCStatus.
type quotaError struct{ user string }

func (e *quotaError) Error() string                      { return "quota exceeded for " + e.user }
func (e *quotaError) ReplyError() (code, message string) { return "quota", e.user + " is over quota" }

func TestServerHandlerError(t *testing.T) {
	zctx := zmqtest.Context(t)
	var events []reliable.ServerEvent
	var mu sync.Mutex
	s := listen(t, zctx, "inproc", func(_ context.Context, req [][]byte) ([][]byte, error) {
		switch string(req[0]) {
		case "plain-error":
			return nil, errors.New("disk on fire")
		case "remote-error":
			return nil, fmt.Errorf("wrapped: %w", &reliable.RemoteError{Code: "not-found", Message: "no such key"})
		case "reply-error":
			return nil, fmt.Errorf("wrapped: %w", &quotaError{user: "bob"})
		}
		return req, nil
	}, reliable.WithServerEventHook(func(ev reliable.ServerEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	p := newPeer(t, zctx, s.addr)

	r := p.call(1, "plain-error")
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, []string{wire.CodeHandler, "disk on fire"}, r.body)
	code, msg, err := wire.ParseErrorBody([][]byte{[]byte(r.body[0]), []byte(r.body[1])})
	require.NoError(t, err)
	assert.Equal(t, wire.CodeHandler, code)
	assert.Equal(t, "disk on fire", msg)

	r = p.call(2, "remote-error")
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, []string{"not-found", "no such key"}, r.body, "a *RemoteError's code and message pass through")

	r = p.call(3, "reply-error")
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, []string{"quota", "bob is over quota"}, r.body, "any error with a ReplyError method chooses its reply")

	r = p.call(4, "fine")
	assert.Equal(t, wire.KindReply, r.kind)

	st := s.srv.Stats()
	assert.EqualValues(t, 3, st.ErrorReplies)
	assert.Equal(t, map[string]uint64{wire.CodeHandler: 1, "not-found": 1, "quota": 1}, st.ErrorsByCode)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 3)
	assert.Equal(t, "quota", events[2].Code)
	assert.Equal(t, reliable.ServerEventHandlerError, events[0].Kind)
	assert.EqualError(t, events[0].Err, "disk on fire")
}

func TestServerPanicIsAnsweredAndServerKeepsServing(t *testing.T) {
	forEachServerTransport(t, func(t *testing.T, tr string) {
		zctx := zmqtest.Context(t)
		var panicEv atomic.Pointer[reliable.ServerEvent]
		s := listen(t, zctx, tr, func(ctx context.Context, req [][]byte) ([][]byte, error) {
			switch string(req[0]) {
			case "panic":
				_ = req[len(req)+10] // index out of range: a runtime panic
			case "panic-nil":
				panic(nil)
			case "goexit":
				// What t.FailNow does inside a handler.
				runtime.Goexit()
			}
			return req, nil
		}, reliable.WithServerEventHook(func(ev reliable.ServerEvent) {
			if ev.Kind == reliable.ServerEventPanic {
				panicEv.Store(&ev)
			}
		}))
		p := newPeer(t, zctx, s.addr)
		seq := uint64(0)
		for _, what := range []string{"panic", "panic-nil", "goexit"} {
			seq++
			r := p.call(seq, what)
			assert.Equal(t, wire.KindError, r.kind, what)
			require.Len(t, r.body, 2)
			assert.Equal(t, wire.CodePanic, r.body[0], what)
			seq++
			r = p.call(seq, "still-there")
			assert.Equal(t, wire.KindReply, r.kind, "the server keeps serving after a %s", what)
		}
		st := s.srv.Stats()
		assert.EqualValues(t, 3, st.Panics)
		assert.EqualValues(t, 3, st.ErrorsByCode[wire.CodePanic])
		ev := panicEv.Load()
		require.NotNil(t, ev)
		assert.NotEmpty(t, ev.Message)
	})
}

func TestServerPanicStackReported(t *testing.T) {
	zctx := zmqtest.Context(t)
	got := make(chan reliable.ServerEvent, 1)
	s := listen(t, zctx, "inproc", func(context.Context, [][]byte) ([][]byte, error) {
		panic("kaboom")
	}, reliable.WithServerEventHook(func(ev reliable.ServerEvent) {
		if ev.Kind == reliable.ServerEventPanic {
			got <- ev
		}
	}))
	r := newPeer(t, zctx, s.addr).call(1, "x")
	assert.Equal(t, []string{wire.CodePanic, "handler panicked"}, r.body, "the panic value is not sent to clients")
	ev := <-got
	assert.Equal(t, "kaboom", ev.Panic)
	assert.Contains(t, string(ev.Stack), "TestServerPanicStackReported")
}

func TestServerDeadlineOverrun(t *testing.T) {
	const timeout = 150 * time.Millisecond
	zctx := zmqtest.Context(t)
	release := make(chan struct{})
	ctxDone := make(chan error, 1)
	var execs counter
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		execs.add(string(req[0]))
		switch string(req[0]) {
		case "ignores-ctx":
			<-ctx.Done()
			ctxDone <- ctx.Err()
			<-release // keeps running after its deadline
			return [][]byte{[]byte("late result")}, nil
		case "honours-ctx":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return req, nil
	}, reliable.WithHandlerTimeout(timeout))
	p := newPeer(t, zctx, s.addr)

	start := time.Now()
	r := p.call(1, "ignores-ctx")
	el := time.Since(start)
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, wire.CodeTimeout, r.body[0])
	assert.GreaterOrEqual(t, el, timeout)
	assert.Less(t, el, timeout+time.Second, "the timeout reply is sent at the deadline")
	assert.ErrorIs(t, <-ctxDone, context.DeadlineExceeded, "the handler's ctx ended at the deadline")

	st := s.srv.Stats()
	assert.EqualValues(t, 1, st.Timeouts)
	assert.Equal(t, 1, st.Overrunning)
	assert.Equal(t, 1, st.InFlight, "an overrunning handler keeps its slot")

	// A retry while the handler still runs gets the timeout from the cache.
	p.send(1, 2, "ignores-ctx")
	r = p.mustRecv(5 * time.Second)
	assert.Equal(t, p.id(1, 2), r.id)
	assert.Equal(t, wire.CodeTimeout, r.body[0])

	// The late result is discarded, but replaces the cached timeout.
	close(release)
	waitFor(t, 5*time.Second, "the late result", func() bool { return s.srv.Stats().LateResults == 1 })
	p.send(1, 3, "ignores-ctx")
	r = p.mustRecv(5 * time.Second)
	assert.Equal(t, p.id(1, 3), r.id)
	assert.Equal(t, wire.KindReply, r.kind)
	assert.Equal(t, []string{"late result"}, r.body)
	assert.Equal(t, 1, execs.get("ignores-ctx"), "never executed twice")

	// A handler that honours its ctx also yields CodeTimeout.
	start = time.Now()
	r = p.call(2, "honours-ctx")
	assert.Equal(t, wire.CodeTimeout, r.body[0])
	assert.Less(t, time.Since(start), timeout+time.Second)

	// Whether the loop or the handler noticed the deadline first, the
	// handler is collected at once and counted once.
	waitFor(t, 5*time.Second, "the handler to be collected", func() bool { return s.srv.Stats().InFlight == 0 })
	st = s.srv.Stats()
	assert.EqualValues(t, 2, st.Timeouts)
	assert.Zero(t, st.Overrunning)
	assert.Equal(t, []string{"ok"}, p.call(3, "ok").body)
}

func TestServerConcurrencyBoundAndBackpressure(t *testing.T) {
	const limit = 4
	zctx := zmqtest.Context(t)
	release := make(chan struct{})
	var running, peak atomic.Int32
	started := make(chan struct{}, 100)
	s := listen(t, zctx, "ipc", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		running.Add(-1)
		return req, nil
	}, reliable.WithConcurrency(limit))
	p := newPeer(t, zctx, s.addr)
	const n = 20
	for i := 1; i <= n; i++ {
		p.send(uint64(i), 1, fmt.Sprint(i))
	}
	for range limit {
		<-started
	}
	// Nothing more can start; the loop must not even read more requests.
	select {
	case <-started:
		t.Fatal("a handler started beyond the concurrency limit")
	case <-time.After(100 * time.Millisecond):
	}
	st := s.srv.Stats()
	assert.Equal(t, limit, st.InFlight)
	assert.EqualValues(t, limit, st.Requests, "with every slot busy the server stops reading")
	close(release)
	seen := map[uint64]bool{}
	for range n {
		r := p.mustRecv(5 * time.Second)
		seen[r.id.Seq] = true
	}
	assert.Len(t, seen, n)
	assert.EqualValues(t, limit, peak.Load())
}

func TestServerOnREPSocket(t *testing.T) {
	zctx := zmqtest.Context(t)
	rep := zmqtest.Socket(t, zctx, zmq.REP)
	addr := zmqtest.Bind(t, rep, "inproc")
	var concurrent, peak atomic.Int32
	srv, err := reliable.NewServer(rep, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		if n > peak.Load() {
			peak.Store(n)
		}
		if string(req[0]) == "fail" {
			return nil, errors.New("nope")
		}
		time.Sleep(time.Millisecond)
		return echoUpper(ctx, req)
	}, reliable.WithConcurrency(8))
	require.NoError(t, err)
	serveOn(t, srv, addr)

	// A protocol-aware DEALER: REP echoes the ID frame unchanged (kind Q),
	// and error replies come in the plain form.
	p := newPeer(t, zctx, addr)
	r := p.call(1, "abc")
	assert.Equal(t, wire.KindRequest, r.kind, "REP cannot rewrite the ID frame")
	assert.Equal(t, []string{"ABC"}, r.body)
	r = p.call(2, "fail")
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodeHandler, "nope"}, r.body)

	// REP discards a request without a delimiter after signalling POLLIN
	// for it: the server must not block in a receive (it receives with
	// DONTWAIT after every wait) and answers the next request.
	raw := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, raw.Connect(addr))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = timeout.SendMessage(ctx, raw, "no-delimiter")
	require.NoError(t, err)
	err = timeout.SendMessage(ctx, raw, "", "after")
	require.NoError(t, err)
	got, err := timeout.RecvMessage(ctx, raw)
	require.NoError(t, err)
	assert.Equal(t, []string{"", "AFTER"}, got)

	// Several REQ clients at once are served one at a time.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		req := zmqtest.Socket(t, zctx, zmq.REQ)
		require.NoError(t, req.Connect(addr))
		go func() {
			defer wg.Done()
			for j := range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := timeout.SendMessage(ctx, req, fmt.Sprintf("c%dr%d", i, j))
				assert.NoError(t, err)
				msg, err := timeout.RecvMessage(ctx, req)
				cancel()
				assert.NoError(t, err)
				assert.Equal(t, []string{strings.ToUpper(fmt.Sprintf("c%dr%d", i, j))}, msg)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, peak.Load(), "a REP server is serial")
}

func TestServerOptionsValidated(t *testing.T) {
	zctx := zmqtest.Context(t)
	for name, opt := range map[string]reliable.ServerOption{
		"<nil>":              nil,
		"WithConcurrency":    reliable.WithConcurrency(0),
		"WithHandlerTimeout": reliable.WithHandlerTimeout(-1),
		"WithDedupeWindow":   reliable.WithDedupeWindow(-time.Second),
		"WithReplyCache":     reliable.WithReplyCache(-1, 10),
		"WithMaxMessageSize": reliable.WithMaxMessageSize(0),
		"WithServerHWM":      reliable.WithServerHWM(-1, 0),
	} {
		_, err := reliable.Listen(zctx, zmqtest.Endpoint(t, "inproc"), echoUpper, opt)
		var oe *zmq.OptionError
		require.True(t, errors.As(err, &oe), "%s: %v", name, err)
		assert.Equal(t, name, oe.Option)
		// NewServer applies the same options the same way.
		sock := zmqtest.Socket(t, zctx, zmq.ROUTER)
		_, err = reliable.NewServer(sock, echoUpper, opt)
		require.True(t, errors.As(err, &oe), "NewServer %s: %v", name, err)
		assert.Equal(t, name, oe.Option)
	}
	pub := zmqtest.Socket(t, zctx, zmq.PUB)
	_, err := reliable.NewServer(pub, echoUpper)
	assert.ErrorIs(t, err, reliable.ErrSocketType)
}

func TestServerSetsSocketDefaults(t *testing.T) {
	zctx := zmqtest.Context(t)
	router := zmqtest.Socket(t, zctx, zmq.ROUTER)
	srv, err := reliable.NewServer(router, echoUpper)
	require.NoError(t, err)
	defer srv.Close()
	size, err := router.GetMaxmsgsize()
	require.NoError(t, err)
	assert.EqualValues(t, reliable.DefaultMaxMessageSize, size)
	hwm, err := router.GetRcvhwm()
	require.NoError(t, err)
	assert.Equal(t, reliable.DefaultRcvHWM, hwm)
	hwm, err = router.GetSndhwm()
	require.NoError(t, err)
	assert.Equal(t, reliable.DefaultSndHWM, hwm)
}

func TestServerLifecycle(t *testing.T) {
	zctx := zmqtest.Context(t)

	t.Run("CloseBeforeServe", func(t *testing.T) {
		srv, err := reliable.Listen(zctx, zmqtest.Endpoint(t, "inproc"), echoUpper)
		require.NoError(t, err)
		require.NoError(t, srv.Close())
		require.NoError(t, srv.Close(), "idempotent")
		assert.ErrorIs(t, srv.Serve(context.Background()), reliable.ErrServerClosed)
		assert.NoError(t, srv.Shutdown(context.Background()))
	})
	t.Run("ServeTwice", func(t *testing.T) {
		s := listen(t, zctx, "inproc", echoUpper)
		newPeer(t, zctx, s.addr).call(1, "x") // Serve is running
		assert.ErrorIs(t, s.srv.Serve(context.Background()), reliable.ErrServing)
	})
	t.Run("ContextEndsServe", func(t *testing.T) {
		srv, err := reliable.Listen(zctx, zmqtest.Endpoint(t, "inproc"), echoUpper)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ctx) }()
		newPeer(t, zctx, srv.Addr()).call(1, "x")
		cancel()
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, context.Canceled)
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after its ctx was cancelled")
		}
		assert.ErrorIs(t, srv.Serve(context.Background()), reliable.ErrServerClosed)
	})
	t.Run("CloseCancelsHandlers", func(t *testing.T) {
		entered := make(chan struct{})
		cancelled := make(chan struct{})
		s := listen(t, zctx, "inproc", func(ctx context.Context, req [][]byte) ([][]byte, error) {
			close(entered)
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		})
		newPeer(t, zctx, s.addr).send(1, 1, "x")
		<-entered
		start := time.Now()
		require.NoError(t, s.srv.Close())
		assert.ErrorIs(t, s.wait(), reliable.ErrServerClosed)
		<-cancelled
		assert.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("SocketContextTerminated", func(t *testing.T) {
		zctx2, err := zmq.NewContext()
		require.NoError(t, err)
		srv, err := reliable.Listen(zctx2, zmqtest.Endpoint(t, "inproc"), echoUpper)
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(context.Background()) }()
		require.NoError(t, zctx2.Term())
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, net.ErrClosed)
			assert.NotErrorIs(t, err, reliable.ErrServerClosed, "the socket's error, not Close's")
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after its context was terminated")
		}
	})
}

func TestServerReplyToVanishedPeerIsCounted(t *testing.T) {
	zctx := zmqtest.Context(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	dropped := make(chan reliable.ServerEvent, 1)
	router := zmqtest.Socket(t, zctx, zmq.ROUTER)
	addr := zmqtest.Bind(t, router, "tcp")
	mon, err := router.StartMonitor(zmq.EVENT_DISCONNECTED)
	require.NoError(t, err)
	srv, err := reliable.NewServer(router, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		close(entered)
		<-release
		return req, nil
	}, reliable.WithServerEventHook(func(ev reliable.ServerEvent) {
		if ev.Kind == reliable.ServerEventReplyDropped {
			dropped <- ev
		}
	}))
	require.NoError(t, err)
	s := serveOn(t, srv, addr)

	p := newPeer(t, zctx, s.addr)
	p.send(1, 1, "x")
	<-entered
	require.NoError(t, p.sock.Close())
	select {
	case <-mon.Events(): // the server saw the peer go
	case <-time.After(5 * time.Second):
		t.Fatal("no EVENT_DISCONNECTED")
	}
	// The event comes a moment before libzmq's I/O thread tells the
	// socket that the pipe is gone, and a send processes that news only if
	// about 1 ms passed since it last looked: a reply sent within that
	// window vanishes silently even with ROUTER_MANDATORY. Nothing can be
	// awaited for it, so give it a comfortable margin.
	time.Sleep(50 * time.Millisecond)
	close(release)
	select {
	case ev := <-dropped:
		assert.Equal(t, p.id(1, 1), ev.ID)
		assert.ErrorIs(t, ev.Err, syscall.EHOSTUNREACH)
	case <-time.After(5 * time.Second):
		t.Fatal("no reply-dropped event")
	}
	st := s.srv.Stats()
	assert.EqualValues(t, 1, st.RepliesDropped)
	assert.Zero(t, st.Replies)
}
