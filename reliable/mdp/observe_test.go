package mdp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable/mdp"
)

// TestBrokerObserver: a broker's observer sees a worker join, and lose it
// when the worker leaves.
func TestBrokerObserver(t *testing.T) {
	zctx := zmqtest.Context(t)
	seen := make(chan observe.Event, 64)
	b, _ := startBroker(t, zctx, mdp.WithBrokerObserver(observe.Func(func(_ context.Context, ev observe.Event) {
		seen <- ev
	})))
	w := startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	next := func() observe.Event {
		select {
		case ev := <-seen:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
		}
		return observe.Event{}
	}
	ev := next()
	assert.Equal(t, observe.KindWorkerJoined, ev.Kind)
	assert.Equal(t, observe.Broker, ev.Component)
	assert.Equal(t, "echo", ev.Name)
	assert.NotEmpty(t, ev.Endpoint)
	w.Close() // sends DISCONNECT
	ev = next()
	assert.Equal(t, observe.KindWorkerLost, ev.Kind)
	assert.Contains(t, []string{"disconnected", "expired"}, ev.Name)
}
