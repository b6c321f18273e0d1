package reliable_test

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// countingHandler counts executions by the request's first frame. A
// request whose first frame starts with "block" waits for release.
func countingHandler(execs *counter, entered chan<- string, release <-chan struct{}) reliable.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		key := string(req[0])
		execs.add(key)
		if entered != nil {
			entered <- key
		}
		if len(key) >= 5 && key[:5] == "block" {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if key == "error" {
			return nil, errors.New("failed once")
		}
		return [][]byte{[]byte(fmt.Sprintf("%s#%d", key, execs.get(key)))}, nil
	}
}

// expectNoReply checks that nothing arrives within d.
func expectNoReply(t *testing.T, p *peer, d time.Duration) {
	t.Helper()
	r, err := p.recv(d)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "unexpected reply %+v", r)
}

func TestServerDuplicateWhileRunningIsJoined(t *testing.T) {
	forEachServerTransport(t, func(t *testing.T, tr string) {
		zctx := zmqtest.Context(t)
		var execs counter
		entered := make(chan string, 10)
		release := make(chan struct{})
		s := listen(t, zctx, tr, countingHandler(&execs, entered, release))
		p := newPeer(t, zctx, s.addr)

		p.send(1, 1, "block")
		require.Equal(t, "block", <-entered)
		p.send(1, 2, "block")
		p.send(1, 3, "block")
		waitFor(t, 5*time.Second, "the retries to be read", func() bool { return s.srv.Stats().DuplicatesInFlight == 2 })
		close(release)

		r := p.mustRecv(5 * time.Second)
		assert.Equal(t, p.id(1, 3), r.id, "the newest attempt is answered")
		assert.Equal(t, wire.KindReply, r.kind)
		assert.Equal(t, []string{"block#1"}, r.body)
		expectNoReply(t, p, 100*time.Millisecond)
		assert.Equal(t, 1, execs.get("block"), "executed once")

		st := s.srv.Stats()
		assert.EqualValues(t, 3, st.Requests)
		assert.EqualValues(t, 1, st.Executed)
		assert.EqualValues(t, 1, st.Replies)
		assert.EqualValues(t, 2, st.Superseded)
	})
}

func TestServerDuplicateAfterCompletionFromCache(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	s := listen(t, zctx, "tcp", countingHandler(&execs, nil, nil))
	p := newPeer(t, zctx, s.addr)

	r := p.call(1, "work")
	assert.Equal(t, []string{"work#1"}, r.body)
	for attempt := uint32(2); attempt <= 4; attempt++ {
		p.send(1, attempt, "work")
		r = p.mustRecv(5 * time.Second)
		assert.Equal(t, p.id(1, attempt), r.id, "the reply carries the retry's attempt number")
		assert.Equal(t, wire.KindReply, r.kind)
		assert.Equal(t, []string{"work#1"}, r.body, "the first execution's reply")
	}
	assert.Equal(t, 1, execs.get("work"))

	// Error replies are results too: a retry does not run the handler again.
	r = p.call(2, "error")
	assert.Equal(t, wire.KindError, r.kind)
	p.send(2, 2, "error")
	r = p.mustRecv(5 * time.Second)
	assert.Equal(t, wire.KindError, r.kind)
	assert.Equal(t, []string{wire.CodeHandler, "failed once"}, r.body)
	assert.Equal(t, 1, execs.get("error"))

	// Another client's request with the same sequence number is its own.
	q := newPeer(t, zctx, s.addr)
	assert.Equal(t, []string{"work#2"}, q.call(1, "work").body)

	// A retry from a new connection (the client reconnected) is answered
	// on the new connection.
	p2 := newPeer(t, zctx, s.addr)
	p2.client = p.client
	p2.send(1, 5, "work")
	r = p2.mustRecv(5 * time.Second)
	assert.Equal(t, []string{"work#1"}, r.body)

	st := s.srv.Stats()
	assert.EqualValues(t, 5, st.DuplicatesCached)
	assert.EqualValues(t, 3, st.Executed)
}

func TestServerDedupeWindowExpires(t *testing.T) {
	const window = 200 * time.Millisecond
	zctx := zmqtest.Context(t)
	var execs counter
	s := listen(t, zctx, "inproc", countingHandler(&execs, nil, nil), reliable.WithDedupeWindow(window))
	p := newPeer(t, zctx, s.addr)

	start := time.Now()
	assert.Equal(t, []string{"w#1"}, p.call(1, "w").body)
	p.send(1, 2, "w")
	assert.Equal(t, []string{"w#1"}, p.mustRecv(5*time.Second).body)
	require.Less(t, time.Since(start), window, "the retry must arrive within the window for this test to mean anything")

	// The passing of time is what this test is about.
	time.Sleep(window - time.Since(start) + 20*time.Millisecond)
	p.send(1, 3, "w")
	assert.Equal(t, []string{"w#2"}, p.mustRecv(5*time.Second).body, "after the window the request runs again")
	assert.Equal(t, 2, execs.get("w"))
}

func TestServerDedupeWindowZeroStillJoinsRunning(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	entered := make(chan string, 10)
	release := make(chan struct{})
	s := listen(t, zctx, "inproc", countingHandler(&execs, entered, release), reliable.WithDedupeWindow(0))
	p := newPeer(t, zctx, s.addr)
	p.send(1, 1, "block")
	<-entered
	p.send(1, 2, "block")
	waitFor(t, 5*time.Second, "the retry to be read", func() bool { return s.srv.Stats().DuplicatesInFlight == 1 })
	close(release)
	assert.Equal(t, p.id(1, 2), p.mustRecv(5*time.Second).id)
	assert.Equal(t, 1, execs.get("block"))

	p.send(1, 3, "block")
	<-entered
	assert.Equal(t, []string{"block#2"}, p.mustRecv(5*time.Second).body, "no cache: a later retry runs again")
	assert.Zero(t, s.srv.Stats().CacheEntries)
}

func TestServerReplyCacheEviction(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	evictions := make(chan int, 10)
	s := listen(t, zctx, "inproc", countingHandler(&execs, nil, nil), reliable.WithReplyCache(2, 1<<20),
		reliable.WithServerEventHook(func(ev reliable.ServerEvent) {
			if ev.Kind == reliable.ServerEventEviction {
				evictions <- ev.Count
			}
		}))
	p := newPeer(t, zctx, s.addr)
	p.call(1, "a")
	p.call(2, "b")
	p.call(3, "c") // evicts seq 1, the oldest
	assert.Equal(t, 1, <-evictions)
	st := s.srv.Stats()
	assert.EqualValues(t, 1, st.CacheEvictions)
	assert.Equal(t, 2, st.CacheEntries)

	p.send(3, 2, "c")
	assert.Equal(t, []string{"c#1"}, p.mustRecv(5*time.Second).body, "still cached")
	p.send(1, 2, "a")
	assert.Equal(t, []string{"a#2"}, p.mustRecv(5*time.Second).body, "evicted: executed again")
}

func TestServerReplyTooBigToCache(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	big := make([]byte, 64<<10)
	s := listen(t, zctx, "inproc", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		execs.add("big")
		return [][]byte{big}, nil
	}, reliable.WithReplyCache(100, 16<<10))
	p := newPeer(t, zctx, s.addr)
	p.call(1, "x")
	p.send(1, 2, "x")
	p.mustRecv(5 * time.Second)
	assert.Equal(t, 2, execs.get("big"))
	assert.EqualValues(t, 2, s.srv.Stats().CacheEvictions)
}

func TestServerPlainRequestsAreNotDeduplicated(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	s := listen(t, zctx, "inproc", countingHandler(&execs, nil, nil))
	req := zmqtest.Socket(t, zctx, zmq.REQ)
	require.NoError(t, req.Connect(s.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 1; i <= 2; i++ {
		err := timeout.SendMessage(ctx, req, "same")
		require.NoError(t, err)
		msg, err := timeout.RecvMessage(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprintf("same#%d", i)}, msg)
	}
	assert.Equal(t, 2, execs.get("same"), "without a request id the server cannot tell a retry")
}
