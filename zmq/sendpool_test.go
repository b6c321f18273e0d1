package zmq_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestLargeSendsReuseBuffers: frames of 16 KiB to 1 MiB sent with
// SendBytes, Msg.SetBytes or Msg.Alloc go out in buffers that the engine
// takes back from libzmq once sent and reuses. Every frame arrives whole,
// at the edges of the size classes too, and a buffer is never reused
// while libzmq still holds its frame: hundreds of frames in flight, each
// with its own bytes, all arrive intact.
func TestLargeSendsReuseBuffers(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(10*time.Second))
		sizes := []int{16<<10 - 1, 16 << 10, 16<<10 + 1, 64 << 10, 100000, 1 << 20, 1<<20 + 1}
		body := func(i, size int) []byte {
			b := bytes.Repeat([]byte{byte(i)}, size)
			copy(b, fmt.Sprintf("frame %d", i))
			return b
		}
		const rounds = 300
		var out zmq.Msg
		defer out.Close()
		sent := 0
		for i := range rounds {
			b := body(i, sizes[i%len(sizes)])
			switch i % 3 {
			case 0:
				_, err := push.SendBytes(b, 0)
				require.NoError(t, err)
			case 1:
				require.NoError(t, out.SetBytes(b))
				require.NoError(t, push.SendMsg(&out, 0))
			case 2:
				buf, err := out.Alloc(len(b))
				require.NoError(t, err)
				copy(buf, b)
				require.NoError(t, push.SendMsg(&out, 0))
			}
			sent++
			if i%50 == 49 { // let libzmq send and free some, for reuse
				for ; sent > 10; sent-- {
					got, err := pull.RecvBytes(0)
					require.NoError(t, err)
					want := body(i-sent+1, sizes[(i-sent+1)%len(sizes)])
					require.True(t, bytes.Equal(want, got), "frame %d of %d bytes", i-sent+1, len(want))
				}
			}
		}
		for ; sent > 0; sent-- {
			got, err := pull.RecvBytes(0)
			require.NoError(t, err)
			i := rounds - sent
			require.True(t, bytes.Equal(body(i, sizes[i%len(sizes)]), got), "frame %d", i)
		}
	})
}
