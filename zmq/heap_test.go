package zmq_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestHeapInUseSeesLibzmq: messages queued in libzmq show in HeapInUse,
// and leave it once received.
func TestHeapInUseSeesLibzmq(t *testing.T) {
	before, ok := zmq.HeapInUse()
	if !ok {
		t.Skip("the C allocator does not tell (not glibc 2.33+)")
	}
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	const n, size = 64, 256 << 10
	for range n {
		_, err := push.SendBytes(make([]byte, size), 0)
		require.NoError(t, err)
	}
	held, _ := zmq.HeapInUse()
	t.Logf("C heap %d MiB before, %d MiB with %d MiB queued", before>>20, held>>20, n*size>>20)
	assert.Greater(t, held-before, int64(n*size*9/10))
	require.NoError(t, pull.SetRcvtimeo(5*time.Second))
	for range n {
		_, err := pull.RecvBytes(0)
		require.NoError(t, err)
	}
	after, _ := zmq.HeapInUse()
	assert.Less(t, after-before, int64(n*size/10), "freed when received: %d MiB", after>>20)
}
