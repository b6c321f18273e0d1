package zmq_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/procstat"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// A 33-byte frame received over tcp is a reference into libzmq's shared
// 8 KiB receive buffer. Copied into the Msg, it must let that buffer go:
// Msgs held for a while must not pin one receive buffer each.
func TestCopiedFrameReleasesTheReceiveBuffer(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "tcp", zmq.PULL, zmq.PUSH)
	require.NoError(t, pull.SetRcvtimeo(5*time.Second))
	const held = 2000
	ms := make([]zmq.Msg, held)
	defer func() {
		for i := range ms {
			ms[i].Close()
		}
	}()
	body := frame(1, 33)
	receive := func(m *zmq.Msg) {
		// One frame per read: each arrives in a receive buffer of its own
		// when the last one is still referenced.
		_, err := push.SendBytes(body, 0)
		require.NoError(t, err)
		require.NoError(t, pull.RecvMsg(m, 0))
	}
	// Warm up libzmq's connection and the heap with one Msg.
	for range 100 {
		receive(&ms[0])
	}
	before := procstat.RSSKiB(os.Getpid())
	for i := range ms {
		receive(&ms[i])
	}
	after := procstat.RSSKiB(os.Getpid())
	require.Positive(t, before)
	assert.Equal(t, body, ms[held-1].Bytes())
	t.Logf("RSS grew by %d KiB holding %d Msgs", after-before, held)
	// Pinned buffers would cost over 8 KiB per held Msg (16 MiB here);
	// the Msgs themselves take some 200 bytes each.
	assert.Less(t, after-before, int64(4<<10), "RSS grew by %d KiB holding %d Msgs of 33 bytes", after-before, held)
}
