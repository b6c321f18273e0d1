package reliable_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestClientLivenessFailFast freezes (SIGSTOP) the server that holds a
// request. Its kernel keeps the TCP connection, so no disconnect is seen;
// a native-heartbeat probe socket watched into a tracker reports it Dead,
// and the client's attempt ends with ErrPeerGone long before its timeout
// and is answered by the other server. (The other server starts once the
// first holds the request: a client sends to whichever endpoint is up.)
func TestClientLivenessFailFast(t *testing.T) {
	const attemptTimeout = 10 * time.Second
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		frozen := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Delay: time.Hour})
		goodEP := zmqtest.Endpoint(t, "ipc")
		zctx := zmqtest.Context(t, zmq.WithLinger(0))
		tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: time.Minute}))
		require.NoError(t, err)
		t.Cleanup(func() { tr.Close() })

		// The liveness source: a probe with native heartbeats per endpoint.
		for _, ep := range []string{frozen.Endpoint, goodEP} {
			probe, err := zctx.NewSocket(zmq.DEALER)
			require.NoError(t, err)
			require.NoError(t, heartbeat.SetNative(probe, heartbeat.Native{Interval: 100 * time.Millisecond}))
			w, err := heartbeat.Watch(probe, tr)
			require.NoError(t, err)
			t.Cleanup(func() {
				w.Close()
				probe.Close()
			})
			require.NoError(t, probe.Connect(ep))
		}

		var peerGone atomic.Int64
		c := newClient(t, zctx, []string{frozen.Endpoint, goodEP}, reliable.WithMode(mode),
			reliable.WithLiveness(tr), reliable.WithAttemptTimeout(attemptTimeout),
			reliable.WithEventHook(func(e reliable.ClientEvent) {
				if e.Kind == reliable.EventAttemptFailed && e.Endpoint == frozen.Endpoint && errors.Is(e.Err, reliable.ErrPeerGone) {
					peerGone.Add(1)
				}
			}))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		type result struct {
			body [][]byte
			err  error
		}
		res := make(chan result, 1)
		go func() {
			body, err := c.Request(ctx, []byte("q"))
			res <- result{body, err}
		}()
		body, err := frozen.AwaitExec(ctx)
		require.NoError(t, err)
		require.Equal(t, "q", body)
		good := testpeer.Start(t, testpeer.Behaviour{Bind: goodEP})
		frozen.Stop()
		stopped := time.Now()
		r := <-res
		took := time.Since(stopped)
		require.NoError(t, r.err)
		assert.Equal(t, "q", string(r.body[len(r.body)-1]))
		t.Logf("%v: answered by the other server %v after SIGSTOP (attempt timeout %v)", mode, took, attemptTimeout)
		assert.Less(t, took, 3*time.Second)
		assert.EqualValues(t, 1, peerGone.Load())
		assert.Equal(t, 1, good.WaitExecutions("q", 1, time.Second))
		frozen.Cont()
	})
}

func TestClientWithLivenessNil(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	_, err := reliable.NewClient(zctx, []string{"tcp://127.0.0.1:1"}, reliable.WithLiveness(nil))
	assert.Error(t, err)
}
