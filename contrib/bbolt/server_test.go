package bbolt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// execs counts handler executions by request body.
type execs struct {
	mu      sync.Mutex
	n       map[string]int
	entered chan string // if not nil, gets each body as its handler starts
}

func (e *execs) handler(block <-chan struct{}) reliable.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		e.mu.Lock()
		if e.n == nil {
			e.n = make(map[string]int)
		}
		e.n[string(req[0])]++
		n := e.n[string(req[0])]
		e.mu.Unlock()
		if e.entered != nil {
			e.entered <- string(req[0])
		}
		if block != nil && string(req[0]) == "block" {
			select {
			case <-block:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return [][]byte{fmt.Appendf(nil, "%s#%d", req[0], n)}, nil
	}
}

func (e *execs) get(k string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[k]
}

// serve runs a server on endpoint until the returned stop is called (or
// the test ends).
func serve(t *testing.T, zctx *zmq.Context, endpoint string, h reliable.Handler, opts ...reliable.ServerOption) (*reliable.Server, func()) {
	t.Helper()
	srv, err := reliable.Listen(zctx, endpoint, h, opts...)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(context.Background()) }()
	var once sync.Once
	stop := func() { once.Do(func() { srv.Close(); <-done }) }
	t.Cleanup(stop)
	return srv, stop
}

// rawPeer is a DEALER that speaks the wire protocol with ids of our choice.
type rawPeer struct {
	t    *testing.T
	sock *zmq.Socket
}

func newRawPeer(t *testing.T, zctx *zmq.Context, endpoint string) *rawPeer {
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, s.Connect(endpoint))
	return &rawPeer{t: t, sock: s}
}

func (p *rawPeer) ask(id wire.RequestID, body string) (wire.Kind, []string) {
	p.t.Helper()
	_, err := p.sock.SendMessage(id.AppendFrame(nil, wire.KindRequest), "", body)
	require.NoError(p.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := timeout.RecvMessageBytes(ctx, p.sock)
	require.NoError(p.t, err)
	require.GreaterOrEqual(p.t, len(msg), 2)
	got, kind, err := wire.ParseIDFrame(msg[0])
	require.NoError(p.t, err)
	require.Equal(p.t, id, got)
	var out []string
	for _, f := range msg[2:] {
		out = append(out, string(f))
	}
	return kind, out
}

func TestServerRestartedOnStoreAnswersFromIt(t *testing.T) {
	zctx := zmqtest.Context(t)
	path := filepath.Join(t.TempDir(), "replies.db")
	endpoint := zmqtest.Endpoint(t, "ipc")
	var ex execs

	st := openReplies(t, path)
	_, stop := serve(t, zctx, endpoint, ex.handler(nil), reliable.WithReplyStore(st))
	p := newRawPeer(t, zctx, endpoint)
	kind, body := p.ask(wire.RequestID{Client: 42, Seq: 1, Attempt: 1}, "a")
	require.Equal(t, wire.KindReply, kind)
	require.Equal(t, []string{"a#1"}, body)
	stop()
	require.NoError(t, st.Close())

	st = openReplies(t, path)
	srv, _ := serve(t, zctx, endpoint, ex.handler(nil), reliable.WithReplyStore(st))
	// Ask once the peer is connected to the new server: a request sent
	// while it still held its connection to the old one would be lost
	// with that connection, and this peer does not retry.
	require.Eventually(t, func() bool { return srv.Stats().Connections == 1 }, 5*time.Second, time.Millisecond, "the peer reconnected")
	kind, body = p.ask(wire.RequestID{Client: 42, Seq: 1, Attempt: 2}, "a")
	assert.Equal(t, wire.KindReply, kind)
	assert.Equal(t, []string{"a#1"}, body, "the first run's reply")
	assert.Equal(t, 1, ex.get("a"), "not run again")
	assert.EqualValues(t, 1, srv.Stats().DuplicatesStored)
	_, body = p.ask(wire.RequestID{Client: 42, Seq: 1, Attempt: 3}, "a")
	assert.Equal(t, []string{"a#1"}, body)
	assert.EqualValues(t, 1, srv.Stats().DuplicatesCached, "then from the cache in memory")
}

func TestServerStartedRecordOfEarlierRun(t *testing.T) {
	zctx := zmqtest.Context(t)
	st := openReplies(t, filepath.Join(t.TempDir(), "replies.db"))
	started := func(seq uint64) wire.RequestID {
		require.NoError(t, st.Put(wire.RequestKey{Client: 9, Seq: seq}, reliable.StoredOutcome{Boot: 1, Expires: time.Now().Add(time.Hour)}))
		return wire.RequestID{Client: 9, Seq: seq, Attempt: 2}
	}
	var ex execs

	t.Run("runs again by default", func(t *testing.T) {
		endpoint := zmqtest.Endpoint(t, "ipc")
		srv, _ := serve(t, zctx, endpoint, ex.handler(nil), reliable.WithReplyStore(st))
		kind, body := newRawPeer(t, zctx, endpoint).ask(started(1), "x")
		assert.Equal(t, wire.KindReply, kind)
		assert.Equal(t, []string{"x#1"}, body)
		assert.EqualValues(t, 1, srv.Stats().StartedAgain)
	})
	t.Run("outcome unknown on opt-in", func(t *testing.T) {
		endpoint := zmqtest.Endpoint(t, "ipc")
		srv, _ := serve(t, zctx, endpoint, ex.handler(nil), reliable.WithReplyStore(st), reliable.WithOutcomeUnknownReplies())
		p := newRawPeer(t, zctx, endpoint)
		id := started(2)
		kind, body := p.ask(id, "y")
		assert.Equal(t, wire.KindError, kind)
		require.Len(t, body, 2)
		assert.Equal(t, wire.CodeOutcomeUnknown, body[0])
		assert.Zero(t, ex.get("y"), "not run")
		assert.EqualValues(t, 1, srv.Stats().OutcomeUnknown)
		id.Attempt++
		_, again := p.ask(id, "y")
		assert.Equal(t, body, again, "the same answer")
		rec, ok, err := st.Get(id.Key(), time.Now())
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, rec.Done, "recorded as the outcome")

		re := &reliable.RemoteError{Code: body[0], Message: body[1]}
		assert.ErrorIs(t, re, reliable.ErrOutcomeUnknown)
	})
}

func TestServerRecordsStartedBeforeTheHandler(t *testing.T) {
	zctx := zmqtest.Context(t)
	st := openReplies(t, filepath.Join(t.TempDir(), "replies.db"))
	endpoint := zmqtest.Endpoint(t, "ipc")
	release := make(chan struct{})
	ex := execs{entered: make(chan string, 1)}
	serve(t, zctx, endpoint, ex.handler(release), reliable.WithReplyStore(st))
	p := newRawPeer(t, zctx, endpoint)
	id := wire.RequestID{Client: 5, Seq: 1, Attempt: 1}
	_, err := p.sock.SendMessage(id.AppendFrame(nil, wire.KindRequest), "", "block")
	require.NoError(t, err)
	select {
	case <-ex.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not start")
	}
	rec, ok, err := st.Get(id.Key(), time.Now())
	require.NoError(t, err)
	require.True(t, ok, "recorded before the handler ran")
	assert.False(t, rec.Done)
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = timeout.RecvMessageBytes(ctx, p.sock)
	require.NoError(t, err)
	rec, ok, _ = st.Get(id.Key(), time.Now())
	require.True(t, ok)
	assert.True(t, rec.Done, "the outcome was recorded before the reply was sent")
	assert.Equal(t, [][]byte{[]byte("block#1")}, rec.Body)
}

func TestWithReplyStoreNil(t *testing.T) {
	_, err := reliable.Listen(zmqtest.Context(t), "inproc://nil-store", func(context.Context, [][]byte) ([][]byte, error) { return nil, nil },
		reliable.WithReplyStore(nil))
	var oe *zmq.OptionError
	require.True(t, errors.As(err, &oe))
}

var _ = zgbolt.SyncAlways

// failingStore injects the failures a real disk rarely gives: every read
// and write fails.
type failingStore struct{}

func (failingStore) Get(wire.RequestKey, time.Time) (reliable.StoredOutcome, bool, error) {
	return reliable.StoredOutcome{}, false, errors.New("injected read failure")
}

func (failingStore) Put(wire.RequestKey, reliable.StoredOutcome) error {
	return errors.New("injected write failure")
}

func TestServerServesThroughAFailingStore(t *testing.T) {
	zctx := zmqtest.Context(t)
	endpoint := zmqtest.Endpoint(t, "ipc")
	var ex execs
	srv, _ := serve(t, zctx, endpoint, ex.handler(nil), reliable.WithReplyStore(failingStore{}))
	p := newRawPeer(t, zctx, endpoint)
	kind, body := p.ask(wire.RequestID{Client: 3, Seq: 1, Attempt: 1}, "a")
	assert.Equal(t, wire.KindReply, kind)
	assert.Equal(t, []string{"a#1"}, body)
	_, body = p.ask(wire.RequestID{Client: 3, Seq: 2, Attempt: 1}, "b")
	assert.Equal(t, []string{"b#1"}, body)
	// Two reads (each new request misses the cache) and four writes failed.
	assert.EqualValues(t, 6, srv.Stats().StoreErrors)
	_, body = p.ask(wire.RequestID{Client: 3, Seq: 1, Attempt: 2}, "a")
	assert.Equal(t, []string{"a#1"}, body, "the cache in memory still answers")
}
