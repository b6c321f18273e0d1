package zmq_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// badEndpoints are the endpoints libzmq 4.3.4 accepts and misreads
// (issue 16): port 99999 binds port 34463, -1 binds 65535, a NUL byte cuts
// the endpoint short, 256.1.1.1 only fails when a message is sent.
var badEndpoints = []string{
	"tcp://127.0.0.1:99999",
	"tcp://127.0.0.1:-1",
	"tcp://127.0.0.1:5555\x00junk",
	"ipc:///tmp/zmqguard\x00junk",
	"tcp://256.1.1.1:5555",
	"tcp://127.0.0.1:65536",
	"tcp://1.2.3:5555",
	"tcp://127.0.0.1:",
	"tcp://:5555",
	"tcp://127.0.0.1",
	"tcp://[::1:5555",
	"127.0.0.1:5555",
	"tcp://",
}

// TestBadEndpointsRefused: Bind, Connect and CheckEndpoint refuse each bad
// endpoint before libzmq sees it, with an *EndpointError that names the
// operation and the endpoint and matches ErrInvalidEndpoint.
func TestBadEndpointsRefused(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.ROUTER)
	for _, ep := range badEndpoints {
		for _, op := range []string{"bind", "connect"} {
			var err error
			if op == "bind" {
				err = s.Bind(ep)
			} else {
				err = s.Connect(ep)
			}
			var ee *zmq.EndpointError
			if !assert.ErrorAs(t, err, &ee, "%s %q", op, ep) {
				continue
			}
			assert.Equal(t, op, ee.Op)
			assert.Equal(t, ep, ee.Endpoint)
			assert.ErrorIs(t, err, zmq.ErrInvalidEndpoint)
			assert.Contains(t, err.Error(), op+" "+strings.ReplaceAll(`"`+ep+`"`, "\x00", `\x00`))
			assert.Equal(t, err.Error(), zmq.CheckEndpoint(op, ep).Error(), "CheckEndpoint says the same")
		}
	}
	// Nothing was bound or connected.
	last, err := s.GetLastEndpoint()
	require.NoError(t, err)
	assert.Empty(t, last)
}

// TestGoodEndpointsAccepted: wildcards bind, real ports connect.
func TestGoodEndpointsAccepted(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "tcp://*:*", "tcp://[::1]:*", "tcp://localhost:*"} {
		assert.NoError(t, zmq.CheckEndpoint("bind", ep), ep)
	}
	for _, ep := range []string{"tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:65535", "tcp://127.0.0.1:6000;10.0.0.1:5555", "ipc:///tmp/x", "inproc://x"} {
		assert.NoError(t, zmq.CheckEndpoint("connect", ep), ep)
	}
	for _, ep := range []string{"tcp://127.0.0.1:*", "tcp://127.0.0.1:0"} {
		err := zmq.CheckEndpoint("connect", ep)
		assert.True(t, errors.Is(err, zmq.ErrInvalidEndpoint), "connect %s: %v", ep, err)
	}
}
