package zmq_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// hotPush returns a PUSH socket with a high-water mark of 8 whose recent
// batch sends had to wait for room (so that its next one that must wait
// waits hot), its PULL peer, and a batch of 64 Msgs to send, with the hot
// wait on in its test mode.
func hotPush(t *testing.T) (push, pull *zmq.Socket, batch func() []zmq.Msg) {
	t.Helper()
	hotWaitForTest(t)
	c := zmqtest.Context(t)
	pull = zmqtest.Socket(t, c, zmq.PULL)
	push = zmqtest.Socket(t, c, zmq.PUSH)
	require.NoError(t, pull.SetRcvhwm(8))
	require.NoError(t, push.SetSndhwm(8))
	// inproc: no kernel buffers, so the pipes fill at the marks.
	require.NoError(t, push.Connect(zmqtest.Bind(t, pull, "inproc")))
	ms := make([]zmq.Msg, 64)
	t.Cleanup(func() {
		for i := range ms {
			ms[i].Close()
		}
	})
	batch = func() []zmq.Msg {
		for i := range ms {
			require.NoError(t, ms[i].SetBytes([]byte("frame")))
		}
		return ms
	}
	// A peer that takes every frame: each batch fills the pipes and
	// waits for room.
	drained := make(chan int, 1)
	go func() {
		n := 0
		for ; n < 10*len(ms); n++ {
			if _, err := pull.RecvBytes(0); err != nil {
				break
			}
		}
		drained <- n
	}()
	require.NoError(t, push.SetSndtimeo(10*time.Second)) // backstop
	for range 10 {
		n, err := push.SendMsgs(batch(), 0)
		require.NoError(t, err)
		require.Equal(t, len(ms), n)
	}
	require.Equal(t, 10*len(ms), <-drained)
	return push, pull, batch
}

// TestBatchSendWaitsHot: a batch send at the high-water mark whose recent
// waits for room were short waits hot, and sends the rest of its batch
// once the peer takes frames again.
func TestBatchSendWaitsHot(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	push, pull, batch := hotPush(t)
	var once sync.Once
	drained := make(chan struct{})
	zmq.OnHotWait(push, func() {
		once.Do(func() {
			go func() { // drain only once the send waits hot
				defer close(drained)
				for range 64 {
					if _, err := pull.RecvBytes(0); err != nil {
						return
					}
				}
			}()
		})
	})
	n, err := push.SendMsgs(batch(), 0)
	require.NoError(t, err)
	assert.Equal(t, 64, n)
	var hit bool
	once.Do(func() { hit = true })
	require.False(t, hit, "the batch send never waited hot")
	<-drained // before the test's cleanup changes the hot wait's tuning
}

// TestBatchSendHotWaitEndsAtOnceOnClose: Close ends a batch send blocked
// hot in libzmq at once, with net.ErrClosed, and the frames it had sent
// are counted.
func TestBatchSendHotWaitEndsAtOnceOnClose(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	push, _, batch := hotPush(t)
	hot := firstHotWait(push)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	ms := batch()
	go func() {
		n, err := push.SendMsgs(ms, 0)
		done <- result{n, err}
	}()
	awaitHotWait(t, hot)
	closed := time.Now()
	require.NoError(t, push.Close())
	select {
	case r := <-done:
		assert.True(t, errors.Is(r.err, net.ErrClosed), "got %v", r.err)
		assert.Less(t, r.n, 64)
		assert.Less(t, time.Since(closed), time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the hot send")
	}
}

// TestBatchSendHotWaitHonoursTimeout: a batch send that waits hot for
// room that never comes ends at its send timeout, having sent what fitted.
func TestBatchSendHotWaitHonoursTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	push, _, batch := hotPush(t)
	hot := firstHotWait(push)
	require.NoError(t, push.SetSndtimeo(200*time.Millisecond))
	start := time.Now()
	n, err := push.SendMsgs(batch(), 0)
	el := time.Since(start)
	awaitHotWait(t, hot)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Greater(t, n, 0, "the frames that fitted were sent")
	assert.Less(t, n, 64)
	assert.GreaterOrEqual(t, el, 200*time.Millisecond)
	assert.Less(t, el, 200*time.Millisecond+time.Second)
}
