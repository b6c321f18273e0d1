package reliable_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// memStore is a ReplyStore in memory. With hold set, the Put of a
// finished request's record waits until hold is closed (or 5 s pass):
// the handler has returned, and its call is still in flight for the
// serve loop.
type memStore struct {
	hold chan struct{}
	mu   sync.Mutex
	recs map[wire.RequestKey]reliable.StoredOutcome
}

func (m *memStore) Get(key wire.RequestKey, now time.Time) (reliable.StoredOutcome, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.recs[key]
	return rec, ok && rec.Expires.After(now), nil
}

func (m *memStore) Put(key wire.RequestKey, rec reliable.StoredOutcome) error {
	if rec.Done && m.hold != nil {
		select {
		case <-m.hold:
		case <-time.After(5 * time.Second):
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[wire.RequestKey]reliable.StoredOutcome)
	}
	m.recs[key] = rec
	return nil
}

// TestServerStoresARequestAnotherAttemptJoined: a retry that joins a
// running request makes the serve loop answer the newer attempt, while
// the handler's goroutine records the outcome in the ReplyStore. The
// record goes under the request's key, and the two goroutines share
// nothing unsynchronised: the handler's goroutine used to read the
// request's ID, which the join rewrites (a data race under -race).
func TestServerStoresARequestAnotherAttemptJoined(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	entered := make(chan string, 1)
	release := make(chan struct{})
	st := &memStore{hold: make(chan struct{})}
	s := listen(t, zctx, "tcp", countingHandler(&execs, entered, release), reliable.WithReplyStore(st))
	p := newPeer(t, zctx, s.addr)

	p.send(1, 1, "block")
	require.Equal(t, "block", <-entered)
	close(release) // the handler returns; its record waits for the retry
	p.send(1, 2, "block")
	waitFor(t, 5*time.Second, "the retry to join", func() bool { return s.srv.Stats().DuplicatesInFlight == 1 })
	close(st.hold)

	r := p.mustRecv(5 * time.Second)
	assert.Equal(t, p.id(1, 2), r.id, "the joined attempt is answered")
	assert.Equal(t, wire.KindReply, r.kind)
	assert.Equal(t, []string{"block#1"}, r.body)
	assert.Equal(t, 1, execs.get("block"), "executed once")
	rec, ok, err := st.Get(p.id(1, 1).Key(), time.Now())
	require.NoError(t, err)
	require.True(t, ok, "recorded under the request's key")
	assert.True(t, rec.Done)
	assert.Equal(t, [][]byte{[]byte("block#1")}, rec.Body)
}
