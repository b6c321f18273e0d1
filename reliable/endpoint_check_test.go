package reliable_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestBadEndpointsRefusedAtConstruction: NewClient (both modes: plain
// mode connects lazily, so it checks up front) and Listen refuse the
// endpoints libzmq misreads, with an *zmq.EndpointError naming the
// endpoint, before any request is made.
func TestBadEndpointsRefusedAtConstruction(t *testing.T) {
	zctx := zmqtest.Context(t)
	handler := func(context.Context, [][]byte) ([][]byte, error) { return nil, nil }
	for _, ep := range []string{"tcp://127.0.0.1:99999", "tcp://127.0.0.1:-1", "tcp://127.0.0.1:5555\x00", "tcp://256.1.1.1:5555"} {
		for _, mode := range modes {
			c, err := reliable.NewClient(zctx, []string{"tcp://127.0.0.1:5555", ep}, reliable.WithMode(mode))
			var ee *zmq.EndpointError
			if assert.ErrorAs(t, err, &ee, "%v %q", mode, ep) {
				assert.Equal(t, ep, ee.Endpoint)
				assert.ErrorIs(t, err, zmq.ErrInvalidEndpoint)
			}
			assert.Nil(t, c)
		}
		srv, err := reliable.Listen(zctx, ep, handler)
		var ee *zmq.EndpointError
		if assert.ErrorAs(t, err, &ee, "Listen %q", ep) {
			assert.Equal(t, "bind", ee.Op)
			assert.Equal(t, ep, ee.Endpoint)
		}
		assert.Nil(t, srv)
	}
}
