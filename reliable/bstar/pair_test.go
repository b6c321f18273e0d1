package bstar_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/zmq"
)

// The tests' heartbeat: the peer is silent 300 ms after its last state.
const (
	ivl      = 100 * time.Millisecond
	liveness = 3
	expiry   = liveness * ivl
)

// side is a running Pair and what its Run returned.
type side struct {
	*bstar.Pair
	done chan error
	evs  chan bstar.Event
}

// newPair creates a Pair (not running).
func newPair(t *testing.T, zctx *zmq.Context, role bstar.Role, local, peer string) *side {
	t.Helper()
	s := &side{done: make(chan error, 1), evs: make(chan bstar.Event, 64)}
	var p *bstar.Pair
	var err error
	// A restarted server binds its predecessor's endpoint: libzmq closes
	// that listener on its I/O thread, a moment after Close returned.
	for deadline := time.Now().Add(5 * time.Second); ; {
		p, err = bstar.New(zctx, role, local, peer, bstar.WithHeartbeat(ivl, liveness),
			bstar.WithEventHook(func(ev bstar.Event) { s.evs <- ev }))
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, err)
	s.Pair = p
	t.Cleanup(func() { p.Close() })
	return s
}

func (s *side) run() *side {
	go func() { s.done <- s.Run(context.Background()) }()
	return s
}

// stop closes the pair and checks that Run ended with ErrClosed.
func (s *side) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-s.done, bstar.ErrClosed)
}

func (s *side) await(t *testing.T, st bstar.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitFor(ctx, st), "waiting for %v, state %v", st, s.State())
}

// freeEndpoints returns two tcp endpoints whose ports were free a moment
// ago.
func freeEndpoints(t *testing.T) (string, string) {
	eps := zmqtest.FreeTCP(t, 2)
	return eps[0], eps[1]
}

// startPair starts a primary and a backup and waits until they settle.
func startPair(t *testing.T, zctx *zmq.Context) (primary, backup *side, pEP, bEP string) {
	t.Helper()
	pEP, bEP = freeEndpoints(t)
	primary = newPair(t, zctx, bstar.Primary, pEP, bEP).run()
	backup = newPair(t, zctx, bstar.Backup, bEP, pEP).run()
	primary.await(t, bstar.StateActive)
	backup.await(t, bstar.StatePassive)
	return primary, backup, pEP, bEP
}

func TestPairStartsPrimaryActive(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	primary, backup, pEP, _ := startPair(t, zctx)
	assert.Equal(t, pEP, primary.Endpoint())
	assert.Equal(t, bstar.Primary, primary.Role())
	assert.True(t, primary.Admit())
	assert.False(t, backup.Admit(), "the backup refuses while the primary is heard")
	st := backup.Stats()
	assert.Equal(t, bstar.StatePassive, st.State)
	assert.Equal(t, bstar.StateActive, st.Peer)
	assert.EqualValues(t, 1, st.Refused)
	assert.NotZero(t, st.Heard)
	assert.Zero(t, st.Takeovers)
	primary.stop(t)
	backup.stop(t)
}

// TestPairFailoverOnClientRequest kills the active primary: the backup
// takes over only when a client asks after the peer expiry, and a primary
// restarted on the same endpoint comes back passive.
func TestPairFailoverOnClientRequest(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	primary, backup, pEP, bEP := startPair(t, zctx)
	primary.stop(t)
	stopped := time.Now()

	// Without a client request nothing changes, however long the silence.
	for backup.State() == bstar.StatePassive && !backup.Admit() {
		time.Sleep(5 * time.Millisecond) // Admit is the event; poll it
	}
	took := time.Since(stopped)
	assert.Equal(t, bstar.StateActive, backup.State())
	t.Logf("takeover %v after the primary stopped (expiry %v, heartbeat %v)", took, expiry, ivl)
	assert.GreaterOrEqual(t, took, expiry-ivl, "not before the peer expiry")
	assert.Less(t, took, expiry+time.Second)
	ev := <-backup.evs
	for ev.To != bstar.StateActive {
		ev = <-backup.evs
	}
	assert.Equal(t, bstar.ClientRequest, ev.Input)
	assert.Equal(t, bstar.StatePassive, ev.From)
	assert.EqualValues(t, 1, backup.Stats().Takeovers)

	restarted := newPair(t, zctx, bstar.Primary, pEP, bEP).run()
	restarted.await(t, bstar.StatePassive)
	assert.Equal(t, bstar.StateActive, backup.State())
	assert.False(t, restarted.Admit())
	assert.True(t, backup.Admit())
	restarted.stop(t)
	backup.stop(t)
}

// TestPairPassiveBecomesActiveWhenPeerRestarts: a passive server whose
// peer restarts (heard in its start-up state) becomes active.
func TestPairPassiveBecomesActiveWhenPeerRestarts(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	primary, backup, pEP, bEP := startPair(t, zctx)
	backup.stop(t)
	restarted := newPair(t, zctx, bstar.Backup, bEP, pEP).run()
	restarted.await(t, bstar.StatePassive)
	assert.Equal(t, bstar.StateActive, primary.State())

	primary.stop(t)
	again := newPair(t, zctx, bstar.Primary, pEP, bEP).run()
	restarted.await(t, bstar.StateActive) // heard peer-primary
	again.await(t, bstar.StatePassive)
	again.stop(t)
	restarted.stop(t)
}

func TestPairLoneBackupRefuses(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pEP, bEP := freeEndpoints(t)
	b := newPair(t, zctx, bstar.Backup, bEP, pEP).run()
	assert.False(t, b.Admit())
	assert.Equal(t, bstar.StateBackup, b.State())
	p := newPair(t, zctx, bstar.Primary, pEP, bEP)
	assert.True(t, p.Admit(), "a primary serves before it hears its peer")
	p.run()
	b.await(t, bstar.StatePassive)
	p.await(t, bstar.StateActive)
	p.stop(t)
	b.stop(t)
}

// fakePeer publishes the given states on a PUB socket.
func fakePeer(t *testing.T, zctx *zmq.Context) (*zmq.Socket, string) {
	t.Helper()
	pub := zmqtest.Socket(t, zctx, zmq.PUB)
	require.NoError(t, pub.SetLinger(0))
	return pub, zmqtest.Bind(t, pub, "tcp")
}

func publishUntil(t *testing.T, pub *zmq.Socket, state string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		require.True(t, time.Now().Before(deadline), "publishing %s: no effect", state)
		_, err := pub.SendMessage(state)
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond) // a heartbeat of the fake peer
	}
}

func TestPairDualActiveIsFatal(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pub, peerEP := fakePeer(t, zctx)
	p := newPair(t, zctx, bstar.Primary, "tcp://127.0.0.1:*", peerEP).run()
	publishUntil(t, pub, "2", func() bool { return p.State() == bstar.StateActive })
	publishUntil(t, pub, "3", func() bool { return len(p.done) > 0 })
	err := <-p.done
	require.ErrorIs(t, err, bstar.ErrDualActive)
	assert.False(t, p.Admit(), "a pair stopped by a fatal input refuses everything")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.ErrorIs(t, p.WaitFor(ctx, bstar.StatePassive), bstar.ErrDualActive)
	var last bstar.Event
	for len(p.evs) > 0 {
		last = <-p.evs
	}
	assert.ErrorIs(t, last.Err, bstar.ErrDualActive)
	require.NoError(t, p.Close())
}

func TestPairSameRoleIsFatal(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	aEP, bEP := freeEndpoints(t)
	a := newPair(t, zctx, bstar.Primary, aEP, bEP).run()
	b := newPair(t, zctx, bstar.Primary, bEP, aEP).run()
	// The first to hear the other stops (and publishes no more, so the
	// other may never hear it).
	select {
	case err := <-a.done:
		assert.ErrorIs(t, err, bstar.ErrSameRole)
	case err := <-b.done:
		assert.ErrorIs(t, err, bstar.ErrSameRole)
	case <-time.After(10 * time.Second):
		t.Fatal("two primaries went on")
	}
}

func TestPairMalformedPeerMessages(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pub, peerEP := fakePeer(t, zctx)
	b := newPair(t, zctx, bstar.Backup, "tcp://127.0.0.1:*", peerEP).run()
	publishUntil(t, pub, "9", func() bool { return b.Stats().Malformed > 0 })
	_, err := pub.SendMessage("3", "extra")
	require.NoError(t, err)
	assert.Equal(t, bstar.StateBackup, b.State())
	b.stop(t)
}

func TestPairLifecycle(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pEP, bEP := freeEndpoints(t)
	p := newPair(t, zctx, bstar.Primary, pEP, bEP)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	err := p.Run(context.Background())
	assert.ErrorIs(t, err, bstar.ErrClosed)
	assert.ErrorIs(t, err, net.ErrClosed)

	// Two Runs: whichever comes second returns ErrRunning at once.
	q := newPair(t, zctx, bstar.Primary, pEP, bEP).run()
	second := make(chan error, 1)
	go func() { second <- q.Run(context.Background()) }()
	select {
	case err := <-second:
		assert.ErrorIs(t, err, bstar.ErrRunning)
	case err := <-q.done:
		assert.ErrorIs(t, err, bstar.ErrRunning)
		q.done = second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := newPair(t, zctx, bstar.Backup, bEP, pEP)
	go func() { r.done <- r.Run(ctx) }()
	cancel()
	assert.ErrorIs(t, <-r.done, context.Canceled)
	require.NoError(t, r.Close())
	q.stop(t)
}

func TestPairOptions(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	for _, opt := range []bstar.Option{nil, bstar.WithHeartbeat(0, 2), bstar.WithHeartbeat(time.Second, 1)} {
		_, err := bstar.New(zctx, bstar.Primary, "tcp://127.0.0.1:*", "tcp://127.0.0.1:1", opt)
		var oe *zmq.OptionError
		assert.True(t, errors.As(err, &oe), "%v", err)
	}
	_, err := bstar.New(zctx, bstar.Role(3), "tcp://127.0.0.1:*", "tcp://127.0.0.1:1")
	assert.Error(t, err)
	_, err = bstar.New(nil, bstar.Primary, "tcp://127.0.0.1:*", "tcp://127.0.0.1:1")
	assert.Error(t, err)
	_, err = bstar.New(zctx, bstar.Primary, "nonsense", "tcp://127.0.0.1:1")
	assert.Error(t, err)
}
