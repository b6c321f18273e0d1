package reliable_test

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/engine"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestClientRecoversFromHalfSentRequest: when a server is killed while a
// client sends it a request, libzmq can refuse the request's second frame
// (EAGAIN: the pipe the first went to is gone), and zmq then refuses every
// send on that socket (zmq.ErrPartialMessage) until Reset. The client used
// to take that for "not connected yet" and retry the send until each
// request's deadline, for ever, while its endpoint reconnected and was up
// (contrib/bbolt's crash test stalled so). The client must reset the
// socket and send the request again. The kill between two frames cannot
// be timed, so the frame is refused by the engine's fault hook, as libzmq
// refuses it.
func TestClientRecoversFromHalfSentRequest(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		for _, transport := range []string{"tcp", "inproc"} {
			t.Run(transport, func(t *testing.T) {
				zctx := zmqtest.Context(t)
				var runs atomic.Int64
				srv := listen(t, zctx, transport, func(ctx context.Context, req [][]byte) ([][]byte, error) {
					runs.Add(1)
					return echoUpper(ctx, req)
				})
				var sock atomic.Pointer[zmq.Socket] // the client's latest socket
				c, err := reliable.NewClient(zctx, []string{srv.addr}, reliable.WithMode(mode),
					reliable.WithAttemptTimeout(time.Second),
					reliable.WithSocketSetup(func(s *zmq.Socket) error { sock.Store(s); return nil }))
				require.NoError(t, err)
				t.Cleanup(func() { c.Close() })
				request := func(body string) ([][]byte, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					return c.Request(ctx, []byte(body), []byte("x"))
				}

				reply, err := request("first")
				require.NoError(t, err)
				assert.Equal(t, [][]byte{[]byte("FIRST"), []byte("X")}, reply)

				// The next request's second frame is refused, once.
				var refused atomic.Bool
				engine.Of(sock.Load()).SetSendFault(func(frame int) error {
					if frame == 1 && refused.CompareAndSwap(false, true) {
						return zmq.Errno(syscall.EAGAIN)
					}
					return nil
				})
				reply, err = request("second")
				require.NoError(t, err, "the request after the half-sent one")
				assert.Equal(t, [][]byte{[]byte("SECOND"), []byte("X")}, reply)
				assert.True(t, refused.Load(), "the fault was injected")
				assert.Equal(t, uint64(1), c.Stats().Resets)

				reply, err = request("third")
				require.NoError(t, err)
				assert.Equal(t, [][]byte{[]byte("THIRD"), []byte("X")}, reply)
				assert.Equal(t, int64(3), runs.Load(), "the half-sent frame reached no handler")
			})
		}
	})
}
