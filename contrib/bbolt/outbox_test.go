package bbolt_test

import (
	"context"
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
)

// inbox collects deliveries.
type inbox struct {
	mu  sync.Mutex
	got []reliable.Delivery
	ch  chan reliable.Delivery
}

func newInbox() *inbox { return &inbox{ch: make(chan reliable.Delivery, 1024)} }

func (b *inbox) deliver(d reliable.Delivery) {
	b.mu.Lock()
	b.got = append(b.got, d)
	b.mu.Unlock()
	b.ch <- d
}

func (b *inbox) next(t *testing.T) reliable.Delivery {
	t.Helper()
	select {
	case d := <-b.ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
		return reliable.Delivery{}
	}
}

func openOutboxStore(t *testing.T, path string) *zgbolt.OutboxStore {
	t.Helper()
	s, err := zgbolt.OpenOutboxStore(path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOutboxDeliversAndForgets(t *testing.T) {
	zctx := zmqtest.Context(t)
	endpoint := zmqtest.Endpoint(t, "ipc")
	var ex execs
	serve(t, zctx, endpoint, ex.handler(nil))
	store := openOutboxStore(t, filepath.Join(t.TempDir(), "o.db"))
	in := newInbox()
	ob, err := reliable.NewOutbox(zctx, []string{endpoint}, store, in.deliver)
	require.NoError(t, err)
	defer ob.Close()
	want := map[uint64]string{}
	for i := range 20 {
		seq, err := ob.Submit(context.Background(), fmt.Appendf(nil, "r%d", i))
		require.NoError(t, err)
		want[seq] = fmt.Sprintf("r%d#1", i)
	}
	for range 20 {
		d := in.next(t)
		require.NoError(t, d.Err)
		assert.Equal(t, want[d.Seq], string(d.Reply[0]), "the reply of its own request")
		assert.False(t, d.Replayed)
	}
	require.NoError(t, ob.Close())
	p, _ := store.Pending(0, 100)
	assert.Empty(t, p, "forgotten once delivered")
}

func TestOutboxReplaysWithTheSameIDs(t *testing.T) {
	zctx := zmqtest.Context(t)
	endpoint := zmqtest.Endpoint(t, "ipc")
	release := make(chan struct{})
	ex := execs{entered: make(chan string, 4)}
	srv, _ := serve(t, zctx, endpoint, ex.handler(release))
	path := filepath.Join(t.TempDir(), "o.db")

	store := openOutboxStore(t, path)
	in := newInbox()
	ob, err := reliable.NewOutbox(zctx, []string{endpoint}, store, in.deliver)
	require.NoError(t, err)
	seq, err := ob.Submit(context.Background(), []byte("block"))
	require.NoError(t, err)
	<-ex.entered
	// The client goes away with its request running (as a crash would,
	// but the store is closed cleanly here; crash_test.go kills).
	require.NoError(t, ob.Close())
	require.NoError(t, store.Close())
	assert.Empty(t, in.got)

	store = openOutboxStore(t, path)
	ob, err = reliable.NewOutbox(zctx, []string{endpoint}, store, in.deliver)
	require.NoError(t, err)
	defer ob.Close()
	waitUntil(t, func() bool { return srv.Stats().DuplicatesInFlight == 1 }, "the replay to join the running request")
	close(release)
	d := in.next(t)
	require.NoError(t, d.Err)
	assert.Equal(t, seq, d.Seq)
	assert.True(t, d.Replayed)
	assert.Equal(t, "block#1", string(d.Reply[0]))
	assert.Equal(t, 1, ex.get("block"), "run once")
	next, err := ob.Submit(context.Background(), []byte("after"))
	require.NoError(t, err)
	assert.Equal(t, seq+1, next, "numbering goes on")
	assert.Equal(t, "after#1", string(in.next(t).Reply[0]))
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // counters have no event to await
	}
}

func TestOutboxDeadLetters(t *testing.T) {
	zctx := zmqtest.Context(t)
	endpoint := zmqtest.Endpoint(t, "ipc")
	store := openOutboxStore(t, filepath.Join(t.TempDir(), "o.db"))
	in := newInbox()
	// Each request waits up to 300 ms for a connection, which the retry
	// below gets within 10 ms.
	ob, err := reliable.NewOutbox(zctx, []string{endpoint}, store, in.deliver,
		reliable.WithOutboxClient(reliable.WithMaxAttempts(1), reliable.WithAttemptTimeout(300*time.Millisecond),
			reliable.WithReconnectInterval(10*time.Millisecond)))
	require.NoError(t, err)
	defer ob.Close()
	a, _ := ob.Submit(context.Background(), []byte("a"))
	b, _ := ob.Submit(context.Background(), []byte("b"))
	for range 2 {
		d := in.next(t)
		assert.True(t, d.DeadLettered)
		assert.ErrorIs(t, d.Err, reliable.ErrNoReply)
	}
	dead, err := ob.DeadLetters(0, 10)
	require.NoError(t, err)
	require.Len(t, dead, 2)
	assert.Equal(t, []uint64{a, b}, []uint64{dead[0].Seq, dead[1].Seq})
	assert.Contains(t, dead[0].Reason, "no reply")

	var ex execs
	serve(t, zctx, endpoint, ex.handler(nil))
	require.NoError(t, ob.Retry(context.Background(), a))
	d := in.next(t)
	require.NoError(t, d.Err)
	assert.Equal(t, a, d.Seq)
	assert.Equal(t, "a#1", string(d.Reply[0]))
	require.NoError(t, ob.Drop(b))
	require.ErrorIs(t, ob.Drop(b), reliable.ErrNotFound)
	require.ErrorIs(t, ob.Retry(context.Background(), b), reliable.ErrNotFound)
	dead, _ = ob.DeadLetters(0, 10)
	assert.Empty(t, dead)
}

// Store and forward: submitted while no server runs, delivered when one
// comes.
func TestOutboxStoreAndForward(t *testing.T) {
	zctx := zmqtest.Context(t)
	endpoint := zmqtest.Endpoint(t, "ipc")
	store := openOutboxStore(t, filepath.Join(t.TempDir(), "o.db"))
	in := newInbox()
	ob, err := reliable.NewOutbox(zctx, []string{endpoint}, store, in.deliver, reliable.WithOutboxRetryFor(time.Minute),
		reliable.WithOutboxClient(reliable.WithMaxAttempts(1), reliable.WithAttemptTimeout(50*time.Millisecond)))
	require.NoError(t, err)
	defer ob.Close()
	seq, err := ob.Submit(context.Background(), []byte("later"))
	require.NoError(t, err)
	waitUntil(t, func() bool { return ob.Client().Stats().GiveUps >= 2 }, "a few give-ups")
	var ex execs
	serve(t, zctx, endpoint, ex.handler(nil))
	d := in.next(t)
	require.NoError(t, d.Err)
	assert.Equal(t, seq, d.Seq)
	assert.False(t, d.DeadLettered)
}

func TestOutboxRefusesPlainAndBadOptions(t *testing.T) {
	zctx := zmqtest.Context(t)
	store := openOutboxStore(t, filepath.Join(t.TempDir(), "o.db"))
	deliver := func(reliable.Delivery) {}
	_, err := reliable.NewOutbox(zctx, []string{"inproc://x"}, store, deliver, reliable.WithOutboxClient(reliable.WithMode(reliable.Plain)))
	require.Error(t, err)
	_, err = reliable.NewOutbox(zctx, []string{"inproc://x"}, store, deliver, reliable.WithOutboxMaxPending(0))
	require.Error(t, err)
	_, err = reliable.NewOutbox(zctx, []string{"inproc://x"}, store, deliver, reliable.WithOutboxRetryFor(-1))
	require.Error(t, err)
	_, err = reliable.NewOutbox(zctx, []string{"inproc://x"}, nil, deliver)
	require.Error(t, err)
}

func TestOutboxSubmitWaitsForRoom(t *testing.T) {
	zctx := zmqtest.Context(t)
	endpoint := zmqtest.Endpoint(t, "ipc")
	release := make(chan struct{})
	ex := execs{entered: make(chan string, 4)}
	serve(t, zctx, endpoint, ex.handler(release))
	store := openOutboxStore(t, filepath.Join(t.TempDir(), "o.db"))
	in := newInbox()
	ob, err := reliable.NewOutbox(zctx, []string{endpoint}, store, in.deliver, reliable.WithOutboxMaxPending(1))
	require.NoError(t, err)
	defer ob.Close()
	_, err = ob.Submit(context.Background(), []byte("block"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = ob.Submit(ctx, []byte("x"))
	require.ErrorIs(t, err, context.DeadlineExceeded, "bounded: no room")
	close(release)
	in.next(t)
}
