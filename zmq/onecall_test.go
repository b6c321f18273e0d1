package zmq_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestWholeMessageReceive: RecvMessageBytes takes a message's first frame
// and up to 16 more in one call into libzmq, and the rest in further
// calls; a small message's frames share one allocation. Every frame comes
// back whole and in order, an empty frame is an empty slice, appending to
// one frame never writes into the next, and the next message starts
// clean.
func TestWholeMessageReceive(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		for _, tc := range []struct {
			frames, size int
		}{
			{1, 10}, {2, 0}, {3, 17}, {16, 100}, {17, 100}, {18, 1}, {40, 300}, {3, 3000}, {5, 70000},
		} {
			parts := make([][]byte, tc.frames)
			for i := range parts {
				parts[i] = frame(i, tc.size+i%3)
			}
			_, err := push.SendMessage(parts)
			require.NoError(t, err)
			_, err = push.Send("next", 0)
			require.NoError(t, err)

			msg, err := pull.RecvMessageBytes(0)
			require.NoError(t, err, "%+v", tc)
			require.Equal(t, parts, msg, "%+v", tc)
			for i, b := range msg {
				assert.NotNil(t, b, "%+v: frame %d is an empty slice, not nil", tc, i)
			}
			if len(msg) > 1 {
				second := string(msg[1])
				_ = append(msg[0], "overwrite?"...)
				assert.Equal(t, second, string(msg[1]), "%+v: appending to a frame leaves the next alone", tc)
			}
			more, err := pull.GetRcvmore()
			require.NoError(t, err)
			assert.False(t, more, "%+v", tc)
			next, err := pull.RecvMessage(0)
			require.NoError(t, err)
			assert.Equal(t, []string{"next"}, next, "%+v", tc)
		}
	})
}

// TestOneCallSendResumesAfterACut: a small multipart message goes to
// libzmq in one call; when libzmq refuses a frame after the first (its
// connection ended half-way), the rest goes frame by frame, as a send
// that went frame by frame throughout would have done, and the message
// arrives whole when the frame is taken on the second try.
func TestOneCallSendResumesAfterACut(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	for _, send := range []struct {
		name string
		f    func(parts ...any) (int, error)
	}{{"blocking", push.SendMessage}, {"dontwait", push.SendMessageDontwait}} {
		zmq.SetFlatCut(push, 1)
		n, err := send.f("a", []byte("bc"), []string{"d", "e"})
		require.NoError(t, err, send.name)
		assert.Equal(t, 5, n, send.name)
		assert.Equal(t, []string{"a", "bc", "d", "e"}, recvWithin(t, pull, 5*time.Second), send.name)
		_, err = send.f("after")
		require.NoError(t, err, send.name)
		assert.Equal(t, []string{"after"}, recvWithin(t, pull, 5*time.Second), send.name)
	}
	requireNothingQueued(t, pull)
}
