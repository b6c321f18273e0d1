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

// TestWorkerAndClientObservers: a worker's observer sees its broker come
// up and its handler runs by outcome; a client's sees its attempts.
func TestWorkerAndClientObservers(t *testing.T) {
	zctx := zmqtest.Context(t)
	b, evs := startBroker(t, zctx)
	seen := make(chan observe.Event, 64)
	obs := observe.Func(func(_ context.Context, ev observe.Event) { seen <- ev })
	startWorker(t, zctx, []string{b.Endpoint()}, "echo", func(_ context.Context, req [][]byte) ([][]byte, error) {
		if string(req[0]) == "panic" {
			panic("boom")
		}
		return req, nil
	}, mdp.WithWorkerObserver(obs))
	evs.joined(t, "echo")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithClientObserver(obs))
	_, err := c.Request(testCtx(t, 5*time.Second), "echo", []byte("hi"))
	assert.NoError(t, err)
	_, err = c.Request(testCtx(t, 5*time.Second), "echo", []byte("panic"))
	assert.Error(t, err)
	got := map[string]int{}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for got["worker handled ok"] < 1 || got["worker handled panic"] < 1 {
		select {
		case ev := <-seen:
			got[ev.Component.String()+" "+ev.Kind.String()+" "+ev.Outcome]++
		case <-timer.C:
			t.Fatalf("events so far: %v", got)
		}
	}
	assert.Equal(t, 1, got["worker peer_up "])
	assert.Equal(t, 1, got["worker panic "])
	assert.GreaterOrEqual(t, got["client attempt "], 2)
}
