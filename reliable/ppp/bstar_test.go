package ppp_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

const pairIvl = 100 * time.Millisecond

// pairQueue is one queue of a Binary Star pair, with a worker of its own.
type pairQueue struct {
	*ppp.Queue
	pair *bstar.Pair
	done chan error
}

func startPairQueue(t *testing.T, zctx *zmq.Context, role bstar.Role, state, peerState, tag string) *pairQueue {
	t.Helper()
	p, err := bstar.New(zctx, role, state, peerState, bstar.WithHeartbeat(pairIvl, 3))
	require.NoError(t, err)
	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", ppp.WithQueueBinaryStar(p))
	require.NoError(t, err)
	pq := &pairQueue{Queue: q, pair: p, done: make(chan error, 1)}
	go func() { pq.done <- q.Run(context.Background()) }()
	t.Cleanup(func() { q.Close() })
	// The worker of this queue; a worker process of a pair runs one per
	// queue on the same handler.
	startWorker(t, zctx, q.Backend(), func(_ context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{append([]byte(tag+":"), bytes.Join(req, nil)...)}, nil
	})
	return pq
}

func (pq *pairQueue) await(t *testing.T, s bstar.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, pq.pair.WaitFor(ctx, s))
}

// TestQueueBinaryStar: the passive queue refuses clients with
// CodePassive, the client moves to the active one and stays there; when
// the active one stops, the next request makes the passive one active and
// its workers serve on, in both client modes.
func TestQueueBinaryStar(t *testing.T) {
	for _, mode := range []reliable.Mode{reliable.Correlated, reliable.Plain} {
		t.Run(mode.String(), func(t *testing.T) {
			zctx := zmqtest.Context(t, zmq.WithLinger(0))
			state := zmqtest.FreeTCP(t, 2)
			primary := startPairQueue(t, zctx, bstar.Primary, state[0], state[1], "a")
			backup := startPairQueue(t, zctx, bstar.Backup, state[1], state[0], "b")
			primary.await(t, bstar.StateActive)
			backup.await(t, bstar.StatePassive)
			waitFor(t, 10*time.Second, "a worker at each queue", func() bool {
				return primary.Stats().Idle == 1 && backup.Stats().Idle == 1
			})

			// The backup is listed first: it refuses once, then the client
			// keeps to the primary, which answered.
			c, err := reliable.NewClient(zctx, []string{backup.Frontend(), primary.Frontend()}, reliable.WithMode(mode),
				reliable.WithAttemptTimeout(time.Second), reliable.WithMaxAttempts(5))
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const n = 10
			for i := range n {
				got, err := c.Request(ctx, fmt.Appendf(nil, "%d", i))
				require.NoError(t, err)
				assert.Equal(t, [][]byte{fmt.Appendf(nil, "a:%d", i)}, got)
			}
			assert.EqualValues(t, 1, backup.Stats().Refused, "refusals at the passive queue")
			assert.EqualValues(t, n+1, c.Stats().Attempts)

			require.NoError(t, primary.Close())
			require.ErrorIs(t, <-primary.done, ppp.ErrQueueClosed)
			stopped := time.Now()
			got, err := c.Request(ctx, []byte("x"))
			took := time.Since(stopped)
			require.NoError(t, err)
			assert.Equal(t, [][]byte{[]byte("b:x")}, got)
			assert.Equal(t, bstar.StateActive, backup.pair.State())
			assert.Less(t, took, 5*time.Second)
			t.Logf("answered by the backup %v after the primary stopped; client %+v", took, c.Stats())
			for i := range n {
				got, err := c.Request(ctx, fmt.Appendf(nil, "%d", i))
				require.NoError(t, err)
				assert.Equal(t, [][]byte{fmt.Appendf(nil, "b:%d", i)}, got)
			}
		})
	}
}

// TestQueueBinaryStarFatal: a queue whose pair meets a fatal input (two
// primaries) stops and returns it.
func TestQueueBinaryStarFatal(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	state := zmqtest.FreeTCP(t, 2)
	a := startPairQueue(t, zctx, bstar.Primary, state[0], state[1], "a")
	b := startPairQueue(t, zctx, bstar.Primary, state[1], state[0], "b")
	select {
	case err := <-a.done:
		assert.ErrorIs(t, err, bstar.ErrSameRole)
	case err := <-b.done:
		assert.ErrorIs(t, err, bstar.ErrSameRole)
	case <-time.After(10 * time.Second):
		t.Fatal("two primaries went on")
	}
}

func TestQueueBinaryStarNilPair(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	_, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", ppp.WithQueueBinaryStar(nil))
	var oe *zmq.OptionError
	require.ErrorAs(t, err, &oe)
}
