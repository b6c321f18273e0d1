package zmq_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// seamBehaviours run over both the direct seam (zmqguard's own cgo calls
// on pebbe's socket handle) and the fallback (pebbe/zmq4's calls), which
// is used when pebbe's struct layout is not the one zmqguard knows.
var seamBehaviours = []struct {
	name string
	run  func(t *testing.T, c *zmq.Context, tr string)
}{
	{"multipart", func(t *testing.T, c *zmq.Context, tr string) {
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		big := bytes.Repeat([]byte("z"), 1<<20)
		n, err := push.SendMessage("a", []byte{}, []byte(nil), big, []string{"b", "c"})
		require.NoError(t, err)
		assert.Equal(t, 1+len(big)+2, n)
		msg, err := pull.RecvMessageBytes(0)
		require.NoError(t, err)
		require.Len(t, msg, 6)
		assert.Equal(t, "a", string(msg[0]))
		assert.Empty(t, msg[1])
		assert.NotNil(t, msg[1], "an empty frame is an empty slice")
		assert.Empty(t, msg[2])
		assert.Equal(t, big, msg[3])
		assert.Equal(t, []string{"b", "c"}, []string{string(msg[4]), string(msg[5])})
		more, err := pull.GetRcvmore()
		require.NoError(t, err)
		assert.False(t, more)
	}},
	{"single frames", func(t *testing.T, c *zmq.Context, tr string) {
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		for i := range 1000 {
			if i%2 == 0 {
				_, err := push.Send("string", 0)
				require.NoError(t, err)
				s, err := pull.Recv(0)
				require.NoError(t, err)
				require.Equal(t, "string", s)
			} else {
				_, err := push.SendBytes([]byte("bytes"), zmq.DONTWAIT)
				require.NoError(t, err)
				b, err := pull.RecvBytes(0)
				require.NoError(t, err)
				require.Equal(t, "bytes", string(b))
			}
		}
	}},
	{"dontwait", func(t *testing.T, c *zmq.Context, tr string) {
		pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		_, err := pull.RecvBytes(zmq.DONTWAIT)
		assert.Equal(t, zmq.Errno(syscall.EAGAIN), err)
		lone := zmqtest.Socket(t, c, zmq.PUSH)
		_, err = lone.Send("x", zmq.DONTWAIT)
		assert.Equal(t, zmq.Errno(syscall.EAGAIN), err)
	}},
	{"timeout", func(t *testing.T, c *zmq.Context, tr string) {
		pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(30*time.Millisecond))
		start := time.Now()
		_, err := pull.Recv(0)
		el := time.Since(start)
		assertTimeout(t, err, "recv")
		assert.GreaterOrEqual(t, el, 30*time.Millisecond)
		assert.Less(t, el, 30*time.Millisecond+time.Second)
		lone := zmqtest.Socket(t, c, zmq.PUSH)
		require.NoError(t, lone.SetSndtimeo(30*time.Millisecond))
		_, err = lone.Send("x", 0)
		assertTimeout(t, err, "send")
	}},
	{"sub-millisecond timeout", func(t *testing.T, c *zmq.Context, tr string) {
		pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(300*time.Microsecond))
		for range 10 {
			start := time.Now()
			_, err := pull.Recv(0)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.GreaterOrEqual(t, time.Since(start), 300*time.Microsecond)
		}
	}},
	// ZMQ_EVENTS through the seam, as package timeout's readiness wait
	// reads it.
	{"wait", func(t *testing.T, c *zmq.Context, tr string) {
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ev, err := timeout.Wait(ctx, push, zmq.POLLOUT)
		require.NoError(t, err)
		assert.Equal(t, zmq.POLLOUT, ev)
		_, err = push.Send("x", 0)
		require.NoError(t, err)
		ev, err = timeout.Wait(ctx, pull, zmq.POLLIN|zmq.POLLOUT)
		require.NoError(t, err)
		assert.Equal(t, zmq.POLLIN, ev, "a PULL is never writable")
	}},
	{"close wakes recv", func(t *testing.T, c *zmq.Context, tr string) {
		pull, _ := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		park := parked(pull)
		done := make(chan error, 1)
		go func() { _, err := pull.RecvMessage(0); done <- err }()
		waitFor(t, park, "the receive to park")
		require.NoError(t, pull.Close())
		assert.ErrorIs(t, waitFor(t, done, "Close to wake the receive"), net.ErrClosed)
		_, err := pull.Recv(zmq.DONTWAIT)
		assert.ErrorIs(t, err, net.ErrClosed)
	}},
	{"messages", func(t *testing.T, c *zmq.Context, tr string) {
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		big := bytes.Repeat([]byte("m"), 100000)
		var m zmq.Msg
		defer m.Close()
		buf, err := m.Alloc(len(big))
		require.NoError(t, err)
		copy(buf, big)
		require.NoError(t, push.SendMsg(&m, zmq.SNDMORE))
		require.NoError(t, m.SetBytes([]byte("end")))
		require.NoError(t, push.SendMsg(&m, 0))
		tk, err := push.SendNoCopy(big, 0)
		require.NoError(t, err)
		out := make([]zmq.Msg, 2)
		require.NoError(t, out[0].SetBytes([]byte("a")))
		out[0].SetMore(true)
		require.NoError(t, out[1].SetBytes([]byte("b")))
		n, err := push.SendMsgs(out, 0)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		_, err = push.Send("into", 0)
		require.NoError(t, err)

		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, big, m.Bytes())
		assert.True(t, m.More())
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, "end", string(m.Bytes()))
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, big, m.Bytes())
		require.NoError(t, m.SetBytes(nil)) // lets go of the frame
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, tk.Wait(ctx))
		in := make([]zmq.Msg, 4)
		got := 0
		for got < 2 {
			n, err := pull.RecvMsgs(in[got:2], 0)
			require.NoError(t, err)
			got += n
		}
		assert.Equal(t, "a", string(in[0].Bytes()))
		assert.True(t, in[0].More())
		assert.Equal(t, "b", string(in[1].Bytes()))
		into := make([]byte, 2)
		_, _, err = pull.RecvInto(into, 0)
		assert.ErrorIs(t, err, zmq.ErrTruncated)
		assert.Equal(t, "in", string(into))
		for i := range in {
			in[i].Close()
		}
		for i := range out {
			out[i].Close()
		}
	}},
	{"reset", func(t *testing.T, c *zmq.Context, tr string) {
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, push.Reset())
		_, err := push.SendMessage("after", "reset")
		require.NoError(t, err)
		assert.Equal(t, []string{"after", "reset"}, recvWithin(t, pull, 5*time.Second))
	}},
}

func TestSeamFallback(t *testing.T) {
	for _, seam := range []struct {
		name   string
		opts   []zmq.ContextOption
		direct bool
	}{
		{"direct", nil, true},
		{"fallback", []zmq.ContextOption{zmq.WithSeamFallback()}, false},
	} {
		t.Run(seam.name, func(t *testing.T) {
			for _, b := range seamBehaviours {
				t.Run(b.name, func(t *testing.T) {
					forEachTransport(t, func(t *testing.T, tr string) {
						c := zmqtest.Context(t, seam.opts...)
						probe := zmqtest.Socket(t, c, zmq.PAIR)
						require.Equal(t, seam.direct, zmq.UsesDirectSeam(probe))
						b.run(t, c, tr)
					})
				})
			}
		})
	}
}
