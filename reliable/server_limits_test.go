package reliable_test

import (
	"context"
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

// TestServerTooLargeRequest: a request whose frames are each within
// ZMQ_MAXMSGSIZE but together over WithMaxMessageSize, or that has more
// body frames than WithMaxRequestFrames, gets a wire.CodeTooLarge error
// reply in its own form and never reaches the handler. It is not cached:
// the same request again gets the same answer.
func TestServerTooLargeRequest(t *testing.T) {
	zctx := zmqtest.Context(t)
	var runs counter
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		runs.add("all")
		return [][]byte{[]byte("ran")}, nil
	}, reliable.WithMaxMessageSize(64<<10), reliable.WithMaxRequestFrames(4))
	half := string(make([]byte, 40<<10))

	p := newPeer(t, zctx, s.addr)
	for seq, body := range map[uint64][]string{
		1: {half, half},              // 80 KiB in two frames of 40 KiB
		2: {"a", "b", "c", "d", "e"}, // five body frames
	} {
		for range 2 {
			p.send(seq, 1, body...)
			r := p.mustRecv(5 * time.Second)
			assert.Equal(t, p.id(seq, 1), r.id)
			assert.Equal(t, wire.KindError, r.kind)
			require.Len(t, r.body, 2)
			assert.Equal(t, wire.CodeTooLarge, r.body[0])
			t.Log(r.body[1])
		}
	}
	r := p.call(3, "a", "b", "c", "d")
	assert.Equal(t, []string{"ran"}, r.body, "exactly the frame limit is allowed")

	// A plain REQ client that takes error replies (its routing id says
	// zmqguard) gets the plain form; any other plain client none, counted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := zmqtest.Socket(t, zctx, zmq.REQ)
	require.NoError(t, req.SetIdentity(string(wire.ClientRoutingID(7, 1))))
	require.NoError(t, req.Connect(s.addr))
	require.NoError(t, timeout.SendMessage(ctx, req, half, half))
	rep, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodeTooLarge}, rep[:2])
	anon := zmqtest.Socket(t, zctx, zmq.REQ)
	require.NoError(t, anon.Connect(s.addr))
	require.NoError(t, timeout.SendMessage(ctx, anon, half, half))
	waitFor(t, 10*time.Second, "the error reply withheld", func() bool { return s.srv.Stats().ErrorsWithheld == 1 })

	// A reliable.Client without a limit of its own gets a *RemoteError
	// matching ErrTooLarge, at once.
	c := newClient(t, zctx, []string{s.addr}, reliable.WithMaxRequestSize(-1))
	_, err = c.Request(context.Background(), []byte(half), []byte(half))
	var re *reliable.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.CodeTooLarge, re.Code)
	assert.ErrorIs(t, err, reliable.ErrTooLarge)

	// An envelope over MaxEnvelopeBytes: routing frames of a made-up
	// proxy, before the ID frame. The envelope is not kept, so the answer
	// could go only to the routing id, in the plain form, which this
	// client does not take: it is withheld, and counted.
	hops := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, hops.Connect(s.addr))
	id := wire.RequestID{Client: 7, Seq: 1, Attempt: 1}.AppendFrame(nil, wire.KindRequest)
	msg := []interface{}{}
	for range 33 {
		msg = append(msg, make([]byte, 255))
	}
	require.NoError(t, timeout.SendMessage(ctx, hops, append(msg, id, "", "x")...))
	waitFor(t, 10*time.Second, "the second error reply withheld", func() bool { return s.srv.Stats().ErrorsWithheld == 2 })

	assert.Equal(t, 1, runs.get("all"))
	st := s.srv.Stats()
	assert.Equal(t, uint64(8), st.TooLarge)
	assert.Equal(t, uint64(1), st.Executed)
	assert.Equal(t, uint64(6), st.ErrorsByCode[wire.CodeTooLarge], "two withheld")
	assert.Zero(t, st.DuplicatesCached)
}

// TestClientAndServerLimitsAgree: a reliable.Client and a reliable.Server
// left at their defaults agree on the largest request: the client sends
// one of exactly DefaultMaxRequestSize bytes and the server takes it (its
// limit is on the body; the envelope the client adds is counted apart),
// and the client refuses one byte more itself.
func TestClientAndServerLimitsAgree(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte("ok")}, nil
	})
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		c := newClient(t, zctx, []string{s.addr}, reliable.WithMode(mode))
		half := make([]byte, reliable.DefaultMaxRequestSize/2)
		rep, err := c.Request(context.Background(), half, half)
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("ok")}, rep)
		_, err = c.Request(context.Background(), half, half, []byte("x"))
		var tl *reliable.TooLargeError
		assert.ErrorAs(t, err, &tl)
	})
	assert.Zero(t, s.srv.Stats().TooLarge)
}

// TestServerMaxReplySize: a handler's reply over WithServerMaxReplySize is
// replaced by a wire.CodeTooLarge error reply, cached like any outcome: a
// retry gets it without running the handler again.
func TestServerMaxReplySize(t *testing.T) {
	zctx := zmqtest.Context(t)
	var runs counter
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		runs.add(string(req[0]))
		return [][]byte{make([]byte, 3<<10), make([]byte, 2<<10)}, nil
	}, reliable.WithServerMaxReplySize(4<<10))
	p := newPeer(t, zctx, s.addr)
	r := p.call(1, "x")
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, []string{wire.CodeTooLarge, "reply of 5120 bytes is over the server's limit of 4096 bytes"}, r.body)
	p.send(1, 2, "x")
	r = p.mustRecv(5 * time.Second)
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, wire.CodeTooLarge, r.body[0])
	assert.Equal(t, 1, runs.get("x"))
	assert.Equal(t, uint64(1), s.srv.Stats().TooLarge)
}

// TestServerBudget: the budget is the sum of its parts, derived from the
// limits; the defaults give a bound a small VM survives; WithMemoryBudget
// lowers the limits not set explicitly to fit, and refuses explicit
// limits that do not.
func TestServerBudget(t *testing.T) {
	zctx := zmqtest.Context(t)
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) { return req, nil }
	newServer := func(opts ...reliable.ServerOption) (*reliable.Server, error) {
		sock, err := zctx.NewSocket(zmq.ROUTER)
		require.NoError(t, err)
		srv, err := reliable.NewServer(sock, h, opts...)
		if err != nil {
			sock.Close()
			return nil, err
		}
		t.Cleanup(func() { srv.Close() })
		return srv, nil
	}
	srv, err := newServer()
	require.NoError(t, err)
	b := srv.Budget()
	t.Log(b)
	assert.Equal(t, b.Base+b.Connections+b.RequestsQueued+b.Ingest+b.RequestsRead+b.Handlers+b.RepliesQueued+b.Cache+b.GC, b.Total)
	assert.Less(t, b.Total, int64(512<<20), "the defaults fit a small VM")
	assert.Equal(t, reliable.DefaultConcurrency, b.Concurrency)
	assert.Equal(t, int64(reliable.DefaultConcurrency)*(reliable.DefaultMaxMessageSize+reliable.MaxEnvelopeBytes+reliable.DefaultServerMaxReplySize), b.Handlers)
	assert.Equal(t, b, srv.Stats().Budget)
	assert.True(t, b.Enforced, "the connection watch runs")

	// A socket that has a monitor already cannot be watched: the budget
	// says its connection figures do not hold.
	sock, err := zctx.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	mon, err := sock.StartMonitor(zmq.EVENT_ALL)
	require.NoError(t, err)
	defer mon.Close()
	watched, err := reliable.NewServer(sock, h)
	require.NoError(t, err)
	defer watched.Close()
	assert.False(t, watched.Budget().Enforced)
	assert.Contains(t, watched.Budget().String(), "not watched")

	for _, budget := range []int64{256 << 20, 128 << 20, 96 << 20} {
		srv, err := newServer(reliable.WithMemoryBudget(budget))
		require.NoError(t, err, "budget %d", budget)
		b := srv.Budget()
		t.Logf("fitted to %d MiB: %v", budget>>20, b)
		assert.LessOrEqual(t, b.Total, budget)
		assert.Equal(t, int64(reliable.DefaultMaxMessageSize), b.MaxRequestSize, "sizes are the protocol's, kept")
	}

	// Explicit limits are kept: too many handlers for the budget.
	_, err = newServer(reliable.WithMemoryBudget(96<<20), reliable.WithConcurrency(64))
	var oe *zmq.OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "WithMemoryBudget", oe.Option)
	t.Log(err)
	_, err = newServer(reliable.WithMemoryBudget(1<<30), reliable.WithMaxMessageSize(-1))
	require.ErrorAs(t, err, &oe, "no size limit: no bound")
}
