package mdp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestBrokerRoundTrip(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	w := startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	evs.joined(t, "echo")
	c := newClient(t, zctx, []string{b.Endpoint()})
	ctx := testCtx(t, 10*time.Second)
	for i := range 10 {
		got, err := c.Request(ctx, "echo", []byte("a"), []byte{byte('0' + i)})
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("a"), {byte('0' + i)}}, got)
	}
	got, err := c.Request(ctx, "echo")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{}}, got, "an empty body is one empty frame")
	st := b.Stats()
	assert.EqualValues(t, 11, st.Requests)
	assert.EqualValues(t, 11, st.Replies)
	assert.Equal(t, 1, st.Workers)
	assert.Equal(t, 1, st.Services)
	assert.Zero(t, st.Waiting)
	assert.Zero(t, st.HeldBytes)
	assert.EqualValues(t, 11, w.Stats().Served)
	cs := c.Stats()
	assert.EqualValues(t, 11, cs.Replies)
	assert.EqualValues(t, 11, cs.Attempts)
	assert.Zero(t, cs.Resets)
}
