package zmq_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

func forEachTransport(t *testing.T, f func(t *testing.T, transport string)) {
	for _, tr := range zmqtest.Transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

// waitUntilReadable waits for a frame to be queued on s, the way a caller
// that then receives with DONTWAIT would, without receiving it.
func waitUntilReadable(t *testing.T, s *zmq.Socket) {
	t.Helper()
	p := zmq.NewPoller()
	p.Add(s, zmq.POLLIN)
	ready, err := p.Poll(5 * time.Second)
	require.NoError(t, err)
	require.Len(t, ready, 1, "no frame arrived")
	require.Equal(t, zmq.POLLIN, ready[0].Events)
}

func TestSendRecvMultipart(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		n, err := push.SendMessage("a", []byte("bc"), []string{"d", ""}, [][]byte{[]byte("e")}, 42)
		require.NoError(t, err)
		assert.Equal(t, 1+2+1+0+1+2, n)
		msg, err := pull.RecvMessage(0)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "bc", "d", "", "e", "42"}, msg)

		_, err = push.Send("single", 0)
		require.NoError(t, err)
		b, err := pull.RecvBytes(0)
		require.NoError(t, err)
		assert.Equal(t, "single", string(b))
	})
}

func TestRecvTimeoutIsTyped(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(50*time.Millisecond))
		start := time.Now()
		_, err := pull.Recv(0)
		el := time.Since(start)
		require.Error(t, err)
		assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
		assert.True(t, errors.Is(err, syscall.EAGAIN), "pebbe-style code checks EAGAIN")
		assert.Equal(t, zmq.Errno(syscall.EAGAIN), zmq.AsErrno(err))
		var ne net.Error
		require.True(t, errors.As(err, &ne))
		assert.True(t, ne.Timeout())
		assert.GreaterOrEqual(t, el, 50*time.Millisecond)
		assert.Less(t, el, 1*time.Second)
	})
}

func TestSubMillisecondTimeoutWaits(t *testing.T) {
	c := zmqtest.Context(t)
	pull, _ := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	require.NoError(t, pull.SetRcvtimeo(500*time.Microsecond))
	got, err := pull.GetRcvtimeo()
	require.NoError(t, err)
	assert.Equal(t, 500*time.Microsecond, got, "kept exactly, not truncated to 0")
	var worst, best time.Duration = 0, time.Hour
	for range 20 {
		start := time.Now()
		_, err := pull.Recv(0)
		el := time.Since(start)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		worst, best = max(worst, el), min(best, el)
	}
	// pebbe/zmq4 truncates 500µs to 0ms: a non-blocking call that returns
	// in a few µs. zmqguard waits the full 500µs every time.
	assert.GreaterOrEqual(t, best, 500*time.Microsecond)
	assert.Less(t, worst, 200*time.Millisecond)
}

// The socket's timeouts (SetRcvtimeo, SetSndtimeo) are one setting each,
// kept exactly: none by default, -1 means none (as in pebbe/zmq4), zero
// means never wait, and Reset keeps them in force. (Package timeout uses them as
// the default of a call whose ctx has no deadline.)
func TestSocketTimeouts(t *testing.T) {
	c := zmqtest.Context(t)
	get := func(t *testing.T, s *zmq.Socket) (rcv, snd time.Duration) {
		t.Helper()
		rcv, err := s.GetRcvtimeo()
		require.NoError(t, err)
		snd, err = s.GetSndtimeo()
		require.NoError(t, err)
		return rcv, snd
	}

	t.Run("values", func(t *testing.T) {
		s := zmqtest.Socket(t, c, zmq.PULL)
		rcv, snd := get(t, s)
		assert.Equal(t, time.Duration(-1), rcv, "none by default")
		assert.Equal(t, time.Duration(-1), snd, "none by default")
		for _, tc := range []struct{ set, want time.Duration }{
			{1500 * time.Microsecond, 1500 * time.Microsecond},
			{time.Second, time.Second},
			{0, 0},
			{-1, -1},
			{-time.Millisecond, -1}, // libzmq's -1
		} {
			require.NoError(t, s.SetRcvtimeo(tc.set))
			require.NoError(t, s.SetSndtimeo(tc.set))
			rcv, snd := get(t, s)
			assert.Equal(t, tc.want, rcv, "SetRcvtimeo(%v)", tc.set)
			assert.Equal(t, tc.want, snd, "SetSndtimeo(%v)", tc.set)
		}
		// Other negative values are refused, as libzmq refuses them, and
		// change nothing.
		require.NoError(t, s.SetRcvtimeo(time.Second))
		require.NoError(t, s.SetSndtimeo(time.Second))
		assert.ErrorIs(t, s.SetRcvtimeo(-2*time.Second), syscall.EINVAL)
		assert.ErrorIs(t, s.SetSndtimeo(-2*time.Second), syscall.EINVAL)
		rcv, snd = get(t, s)
		assert.Equal(t, time.Second, rcv, "a refused value changes nothing")
		assert.Equal(t, time.Second, snd, "a refused value changes nothing")
		require.NoError(t, s.SetSndtimeo(time.Minute))
		rcv, snd = get(t, s)
		assert.Equal(t, time.Second, rcv, "setting one leaves the other")
		assert.Equal(t, time.Minute, snd)
	})

	t.Run("zero never waits", func(t *testing.T) {
		pull, _ := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
		lone := zmqtest.Socket(t, c, zmq.PUSH) // no peer
		require.NoError(t, pull.SetRcvtimeo(0))
		require.NoError(t, lone.SetSndtimeo(0))
		start := time.Now()
		_, err := pull.RecvBytes(0)
		assert.ErrorIs(t, err, syscall.EAGAIN)
		_, err = lone.SendMessage("a", "b")
		assert.ErrorIs(t, err, syscall.EAGAIN)
		assert.Less(t, time.Since(start), time.Second)
	})

	t.Run("kept by Reset", func(t *testing.T) {
		pull := zmqtest.Socket(t, c, zmq.PULL)
		zmqtest.Bind(t, pull, "inproc")
		push := zmqtest.Socket(t, c, zmq.PUSH)
		zmqtest.Bind(t, push, "inproc") // no peer: sends wait
		require.NoError(t, pull.SetRcvtimeo(time.Hour))
		require.NoError(t, pull.SetRcvtimeo(40*time.Millisecond), "the last value wins")
		require.NoError(t, push.SetSndtimeo(40*time.Millisecond))
		require.NoError(t, pull.Reset())
		require.NoError(t, push.Reset())
		rcv, _ := get(t, pull)
		assert.Equal(t, 40*time.Millisecond, rcv)
		_, snd := get(t, push)
		assert.Equal(t, 40*time.Millisecond, snd)

		start := time.Now()
		_, err := pull.RecvBytes(0)
		el := time.Since(start)
		assertTimeout(t, err, "recv")
		assert.GreaterOrEqual(t, el, 40*time.Millisecond)
		assert.Less(t, el, 40*time.Millisecond+time.Second)

		start = time.Now()
		_, err = push.SendBytes([]byte("x"), 0)
		el = time.Since(start)
		assertTimeout(t, err, "send")
		assert.GreaterOrEqual(t, el, 40*time.Millisecond)
		assert.Less(t, el, 40*time.Millisecond+time.Second)
	})
}

func TestCloseWakesBlockedRecv(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		done := make(chan error, 1)
		park := parked(pull)
		go func() {
			_, err := pull.Recv(0)
			done <- err
		}()
		waitFor(t, park, "the receive to park")
		require.NoError(t, pull.Close())
		select {
		case err := <-done:
			assert.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(2 * time.Second):
			t.Fatal("close did not wake the receive")
		}
		require.NoError(t, pull.Close(), "Close is idempotent")
		_, err := pull.Recv(zmq.DONTWAIT)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

func TestManyMessagesBothWays(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		rep, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				m, err := rep.RecvMessageBytes(0)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := rep.SendMessage(m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for i := range 2000 {
			_, err := req.SendMessage("x", i)
			require.NoError(t, err)
			m, err := req.RecvMessage(0)
			require.NoError(t, err)
			require.Len(t, m, 2)
		}
		wg.Wait()
	})
}
