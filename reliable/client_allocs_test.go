package reliable_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestClientAllocationsPerRequest: a request answered at once costs the
// client a few Go allocations, whatever its mode: the reply's frames
// (their slice and, small, one buffer for all) and the send's parts. The
// echo server forwards libzmq's message (zmq.Msg) and allocates nothing,
// so the count is the client's. It was 11 in correlated mode and 5 in
// plain mode before the request's bookkeeping was recycled and a reply
// came in one call.
func TestClientAllocationsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		rep := zmqtest.Socket(t, zctx, zmq.REP)
		ep := zmqtest.Bind(t, rep, "tcp")
		done := make(chan struct{})
		go func() {
			defer close(done)
			var m zmq.Msg
			defer m.Close()
			for rep.RecvMsg(&m, 0) == nil && rep.SendMsg(&m, 0) == nil {
			}
		}()
		t.Cleanup(func() { rep.Close(); <-done })
		c := newClient(t, zctx, []string{ep}, reliable.WithMode(mode))
		ctx, body := context.Background(), []byte("0123456789abcdef")
		for range 100 {
			_, err := c.Request(ctx, body)
			require.NoError(t, err)
		}
		allocs := testing.AllocsPerRun(500, func() {
			if _, err := c.Request(ctx, body); err != nil {
				t.Error(err)
			}
		})
		t.Logf("%v mode: %.1f allocations per request", mode, allocs)
		assert.LessOrEqual(t, allocs, 4.0)
	})
}
