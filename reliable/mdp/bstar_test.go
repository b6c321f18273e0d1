package mdp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// pairBroker runs one broker of a Binary Star pair; stop closes it.
type pairBroker struct {
	*mdp.Broker
	pair *bstar.Pair
	done chan error
	evs  brokerEvents
}

func startPairBroker(t *testing.T, zctx *zmq.Context, role bstar.Role, frontend, state, peerState string) *pairBroker {
	t.Helper()
	p, err := bstar.New(zctx, role, state, peerState, bstar.WithHeartbeat(ivl, liveness))
	require.NoError(t, err)
	pb := &pairBroker{pair: p, done: make(chan error, 1), evs: brokerEvents{make(events[mdp.BrokerEvent], 1024)}}
	pb.Broker, err = mdp.NewBroker(zctx, frontend, mdp.WithBrokerHeartbeat(ivl, liveness),
		mdp.WithBinaryStar(p), mdp.WithBrokerEventHook(pb.evs.hook))
	require.NoError(t, err)
	go func() { pb.done <- pb.Run(context.Background()) }()
	t.Cleanup(func() { pb.Close() })
	return pb
}

func (pb *pairBroker) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, pb.Close())
	require.ErrorIs(t, <-pb.done, mdp.ErrBrokerClosed)
}

func (pb *pairBroker) await(t *testing.T, s bstar.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, pb.pair.WaitFor(ctx, s))
}

// TestBrokerBinaryStar: the passive broker refuses clients with
// CodePassive and the client goes to the active one; when the active one
// dies, the next client request makes the passive one active, and the
// worker registered with both serves on.
func TestBrokerBinaryStar(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	eps := zmqtest.FreeTCP(t, 4) // primary and backup frontends, then state endpoints
	primary := startPairBroker(t, zctx, bstar.Primary, eps[0], eps[2], eps[3])
	backup := startPairBroker(t, zctx, bstar.Backup, eps[1], eps[3], eps[2])
	primary.await(t, bstar.StateActive)
	backup.await(t, bstar.StatePassive)
	startWorker(t, zctx, []string{eps[0], eps[1]}, "echo", named("w"))
	primary.evs.joined(t, "echo")
	backup.evs.joined(t, "echo")

	// The backup first: it refuses, the client moves to the primary.
	c := newClient(t, zctx, []string{eps[1], eps[0]}, mdp.WithAttemptTimeout(500*time.Millisecond), mdp.WithMaxAttempts(5))
	ctx := testCtx(t, 20*time.Second)
	got, err := c.Request(ctx, "echo", []byte("a"))
	require.NoError(t, err)
	assert.Equal(t, frames("w:a"), got)
	assert.EqualValues(t, 2, c.Stats().Attempts)
	assert.EqualValues(t, 1, backup.Stats().Refused)
	ev := backup.evs.kind(t, mdp.BrokerRequestFailed)
	assert.Equal(t, wire.CodePassive, ev.Code)

	primary.stop(t)
	killed := time.Now()
	got, err = c.Request(ctx, "echo", []byte("b"))
	took := time.Since(killed)
	require.NoError(t, err)
	assert.Equal(t, frames("w:b"), got)
	assert.Equal(t, bstar.StateActive, backup.pair.State())
	t.Logf("answered by the backup %v after the primary stopped; client stats %+v", took, c.Stats())
	assert.Less(t, took, 5*time.Second)
}

// TestBrokerBinaryStarFatal: a broker whose pair meets a fatal input
// (here, two primaries) stops and returns it.
func TestBrokerBinaryStarFatal(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	eps := zmqtest.FreeTCP(t, 4)
	a := startPairBroker(t, zctx, bstar.Primary, eps[0], eps[1], eps[3])
	b := startPairBroker(t, zctx, bstar.Primary, eps[2], eps[3], eps[1])
	// The first to hear the other stops; the other may never hear it.
	select {
	case err := <-a.done:
		assert.ErrorIs(t, err, bstar.ErrSameRole)
	case err := <-b.done:
		assert.ErrorIs(t, err, bstar.ErrSameRole)
	case <-time.After(10 * time.Second):
		t.Fatal("two primaries went on")
	}
}
