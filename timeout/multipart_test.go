package timeout_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Receives that time out at every point of a stream of multipart messages
// never take part of a message: every message arrives whole, in order,
// none lost.
func TestRecvMessageWholeOrNothing(t *testing.T) {
	const n = 300
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		long, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sent := returnsOf(func() error {
			for i := range n {
				s := strconv.Itoa(i)
				if err := timeout.SendMessage(long, push, s, s+"-b", s+"-c"); err != nil {
					return err
				}
				if i%10 == 0 {
					time.Sleep(200 * time.Microsecond) // pace the stream, so that receives time out in between
				}
			}
			return nil
		})
		timeouts := 0
		for i, try := 0, 0; i < n; try++ {
			ctx, cancel := context.WithTimeout(long, time.Duration(1+try%4)*50*time.Microsecond)
			m, err := timeout.RecvMessage(ctx, pull)
			cancel()
			if err != nil {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				timeouts++
				continue
			}
			s := strconv.Itoa(i)
			require.Equal(t, []string{s, s + "-b", s + "-c"}, m)
			i++
		}
		require.NoError(t, await(t, sent).err)
		t.Logf("%d messages, %d receives timed out in between", n, timeouts)
		assert.Positive(t, timeouts)
	})
}

// A send that times out leaves nothing queued: the next message is not
// glued to part of it.
func TestSendMessageWholeOrNothing(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		t.Run("no peer", func(t *testing.T) {
			push := zmqtest.Socket(t, c, zmq.PUSH)
			ep := zmqtest.Bind(t, push, tr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			assertDeadline(t, ctx, timeout.SendMessage(ctx, push, "lost-1", "lost-2", "lost-3"))

			pull := zmqtest.Socket(t, c, zmq.PULL)
			require.NoError(t, pull.Connect(ep))
			long, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel2()
			require.NoError(t, timeout.SendMessage(long, push, "next", "message"))
			m, err := timeout.RecvMessage(long, pull)
			require.NoError(t, err)
			assert.Equal(t, []string{"next", "message"}, m)
		})
		t.Run("high-water mark", func(t *testing.T) {
			pull := zmqtest.Socket(t, c, zmq.PULL)
			require.NoError(t, pull.SetRcvhwm(1))
			require.NoError(t, pull.SetRcvbuf(4096))
			ep := zmqtest.Bind(t, pull, tr)
			push := zmqtest.Socket(t, c, zmq.PUSH)
			require.NoError(t, push.SetSndhwm(1))
			require.NoError(t, push.SetSndbuf(4096))
			require.NoError(t, push.Connect(ep))
			// Large frames fill the kernel's buffers of ipc and tcp soon.
			big := string(make([]byte, 64<<10))
			long, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Fill every queue until a send times out; each message that
			// went in is whole, the one that timed out is not there at all.
			queued := 0
			for {
				ctx, cancel := context.WithTimeout(long, 20*time.Millisecond)
				err := timeout.SendMessage(ctx, push, fmt.Sprint(queued), big, "c")
				cancel()
				if err != nil {
					require.ErrorIs(t, err, os.ErrDeadlineExceeded)
					break
				}
				queued++
				require.Less(t, queued, 10000, "the high-water mark never held")
			}
			t.Logf("%d messages queued before a send timed out", queued)
			for i := range queued {
				m, err := timeout.RecvMessage(long, pull)
				require.NoError(t, err)
				require.Equal(t, []string{fmt.Sprint(i), big, "c"}, m)
			}
			require.NoError(t, timeout.SendMessage(long, push, "after", "b", "c"))
			m, err := timeout.RecvMessage(long, pull)
			require.NoError(t, err)
			assert.Equal(t, []string{"after", "b", "c"}, m)
		})
	})
}
