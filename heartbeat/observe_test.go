package heartbeat

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

type eventChan chan observe.Event

func (ch eventChan) Observe(_ context.Context, ev observe.Event) { ch <- ev }

// await returns the next event of kind, skipping others.
func (ch eventChan) await(t *testing.T, kind observe.Kind) observe.Event {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event within 5s", kind)
		}
	}
}

// TestWatchObserver: a Watcher reports a connection, a failed handshake
// (a CURVE client at a server without security), a disconnect and a
// reconnect.
func TestWatchObserver(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	srv := zmqtest.Socket(t, zctx, zmq.ROUTER)
	ep := zmqtest.Bind(t, srv, "tcp")

	obs := make(eventChan, 256)
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	w, err := Watch(s, nopSink{}, WithWatchObserver(obs, observe.Client))
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	require.NoError(t, s.Connect(ep))
	ev := obs.await(t, observe.KindConnected)
	assert.Equal(t, ep, ev.Endpoint)
	assert.Equal(t, observe.Client, ev.Component)

	pub, sec, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	srvPub, _, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	cs := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, cs.ClientAuthCurve(srvPub, pub, sec))
	cw, err := Watch(cs, nopSink{}, WithWatchObserver(obs, observe.Client))
	require.NoError(t, err)
	t.Cleanup(func() { cw.Close() })
	require.NoError(t, cs.Connect(ep))
	ev = obs.await(t, observe.KindHandshakeFailed)
	assert.Equal(t, "protocol", ev.Name, "a CURVE client at a NULL server")

	// The server goes away: the plain client is disconnected, and
	// libzmq tries again.
	require.NoError(t, srv.Close())
	obs.await(t, observe.KindDisconnected)
	obs.await(t, observe.KindConnectRetried)

	_, err = Watch(s, nopSink{}, WithWatchObserver(nil, observe.Client))
	assert.Error(t, err)
}

// TestObserveTracker: a tracker's transitions become peer events.
func TestObserveTracker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t) // 1s, liveness 3
		obs := make(eventChan, 16)
		remove := ObserveTracker(tr, obs, observe.Queue)
		defer remove()
		tr.Observe("w")
		sleep(4 * time.Second)
		var got []string
		for len(obs) > 0 {
			ev := <-obs
			assert.Equal(t, "w", ev.Endpoint)
			got = append(got, ev.Kind.String()+" "+ev.Name)
		}
		assert.Equal(t, []string{"peer_up unknown->alive", "peer_suspect alive->suspect", "peer_down suspect->dead"}, got)
	})
}
