package reliable

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestLoneRequestIsNotListed: a request alone on its endpoint sends as
// the socket's reader and is never put in Client.pending (no lock of the
// client's on its way); a second request sent while the first reads is
// listed, and gets its reply handed over by the first. The server answers
// the second first.
func TestLoneRequestIsNotListed(t *testing.T) {
	zctx := zmqtest.Context(t)
	router := zmqtest.Socket(t, zctx, zmq.ROUTER)
	addr := zmqtest.Bind(t, router, "tcp")
	c, err := NewClient(zctx, []string{addr})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	listed := func() (one *call, more int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pending.one, len(c.pending.more)
	}
	recv := func() [][]byte {
		require.NoError(t, router.SetRcvtimeo(5*time.Second))
		msg, err := router.RecvMessageBytes(0)
		require.NoError(t, err)
		return msg
	}
	type result struct {
		body string
		err  error
	}
	request := func(body string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			rep, err := c.Request(context.Background(), []byte(body))
			r := result{err: err}
			if err == nil {
				r.body = string(rep[0])
			}
			ch <- r
		}()
		return ch
	}

	// A request that waits for the connection is sent the general way:
	// connect first.
	warm := request("warm")
	require.NoError(t, sendAll(router, recv()))
	require.NoError(t, (<-warm).err)

	first := request("first")
	req1 := recv()
	one, more := listed()
	assert.Nil(t, one, "the lone request was listed")
	assert.Zero(t, more)

	second := request("second")
	req2 := recv()
	one, more = listed()
	require.NotNil(t, one, "the second request, sent while the first reads, was not listed")
	assert.Zero(t, more)

	// [routing id, ID frame, "", body]: echo the envelope back.
	require.NoError(t, sendAll(router, req2))
	r := <-second
	require.NoError(t, r.err)
	assert.Equal(t, "second", r.body)
	require.NoError(t, sendAll(router, req1))
	r = <-first
	require.NoError(t, r.err)
	assert.Equal(t, "first", r.body)

	one, more = listed()
	assert.Nil(t, one)
	assert.Zero(t, more)
	assert.Zero(t, c.Stats().StaleDropped)
}

func sendAll(s *zmq.Socket, msg [][]byte) error {
	parts := make([]any, len(msg))
	for i, p := range msg {
		parts[i] = p
	}
	_, err := s.SendMessage(parts...)
	return err
}
