package heartbeat

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestNativeDefaults(t *testing.T) {
	n := Native{}.WithDefaults()
	assert.Equal(t, Native{Interval: time.Second, Timeout: 3 * time.Second, TTL: 3 * time.Second}, n)
	n = Native{Interval: 100 * time.Millisecond}.WithDefaults()
	assert.Equal(t, 300*time.Millisecond, n.Timeout)
	assert.Equal(t, 300*time.Millisecond, n.TTL)
	require.NoError(t, Native{}.Validate())
	assert.Error(t, Native{Interval: -1}.Validate())
	assert.Error(t, Native{Timeout: -1}.Validate())
	assert.Error(t, Native{TTL: -1}.Validate())
	assert.Error(t, Native{TTL: 2 * time.Hour}.Validate())
}

func TestSetNative(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, SetNative(s, Native{Interval: 200 * time.Millisecond, TTL: 250 * time.Millisecond}))
	// pebbe/zmq4 has no getters for these options; their effect is
	// tested by TestNativeHeartbeatFrozenPeer.
	assert.Error(t, SetNative(s, Native{Interval: -time.Second}))
}

// TestNativeHeartbeatFrozenPeer freezes a server process with SIGSTOP: its
// kernel keeps the TCP connection open, so only libzmq's ZMTP heartbeat
// timeout can notice, by closing the connection; the Watcher turns the
// disconnect into Dead. The tracker's own silence limit is far away, so
// Dead can only come from the native heartbeat.
func TestNativeHeartbeatFrozenPeer(t *testing.T) {
	const ivl, timeout = 100 * time.Millisecond, 300 * time.Millisecond
	peer := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*"})
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	tr := newTracker(t, WithPolicy(Policy{Interval: time.Minute}))
	s, err := zctx.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	require.NoError(t, SetNative(s, Native{Interval: ivl, Timeout: timeout}))
	w, err := Watch(s, tr)
	require.NoError(t, err)
	t.Cleanup(func() {
		w.Close()
		s.Close()
	})
	require.NoError(t, s.Connect(peer.Endpoint))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := tr.WaitForStateChange(ctx, peer.Endpoint, Unknown)
	require.NoError(t, err)
	require.Equal(t, Alive, st)

	stopped := time.Now()
	peer.Stop()
	defer peer.Cont()
	st, err = tr.WaitForStateChange(ctx, peer.Endpoint, Alive)
	require.NoError(t, err)
	require.Equal(t, Dead, st)
	took := time.Since(stopped)
	t.Logf("native heartbeat: frozen peer reported Dead after %v (ivl %v, timeout %v)", took, ivl, timeout)
	// libzmq PINGs at the next interval tick and gives up Timeout later.
	assert.GreaterOrEqual(t, took, timeout-ivl/2)
	assert.Less(t, took, timeout+2*ivl+500*time.Millisecond)

	// Reconnects reach the frozen process's kernel (CONNECTED) but never
	// complete a handshake: the peer stays Dead.
	st, err = tr.WaitForStateChange(ctxFor(t, 3*timeout), peer.Endpoint, Dead)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, Dead, st)

	// Thawed, it comes back.
	peer.Cont()
	st, err = tr.WaitForStateChange(ctx, peer.Endpoint, Dead)
	require.NoError(t, err)
	assert.Equal(t, Alive, st)
}

// ctxFor returns a context that ends after d or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// recorder is a Sink that records calls.
type recorder struct {
	ch chan string
}

func (r *recorder) Track(p string)    { r.ch <- "track " + p }
func (r *recorder) Observe(p string)  { r.ch <- "observe " + p }
func (r *recorder) Sent(p string)     { r.ch <- "sent " + p }
func (r *recorder) MarkDead(p string) { r.ch <- "dead " + p }

func TestWatchNamesAndOptions(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	srv := zmqtest.Socket(t, zctx, zmq.ROUTER)
	ep := zmqtest.Bind(t, srv, "tcp")
	s, err := zctx.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	rec := &recorder{ch: make(chan string, 1024)}
	_, err = Watch(s, rec, WithRefresh(0))
	assert.Error(t, err)
	_, err = Watch(s, rec, WithPeerName(nil))
	assert.Error(t, err)
	w, err := Watch(s, rec, WithPeerName(func(string) string { return "srv" }), WithRefresh(20*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, s.Connect(ep))
	want := []string{"track srv", "observe srv", "observe srv"}
	for _, wnt := range want {
		select {
		case got := <-rec.ch:
			assert.Equal(t, wnt, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", wnt)
		}
	}
	require.NoError(t, w.Close())
	require.NoError(t, w.Close())
	<-w.Done()
	require.NoError(t, s.Close())
}
