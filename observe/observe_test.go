package observe_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

type prop struct{ observe.Func }

func (prop) Inject(ctx context.Context) (context.Context, []byte)  { return ctx, []byte("p") }
func (prop) Extract(ctx context.Context, _ []byte) context.Context { return ctx }

func TestMulti(t *testing.T) {
	assert.Nil(t, observe.Multi())
	assert.Nil(t, observe.Multi(nil, nil))
	var got []string
	a := observe.Func(func(_ context.Context, ev observe.Event) { got = append(got, "a:"+ev.Kind.String()) })
	b := prop{func(_ context.Context, ev observe.Event) { got = append(got, "b:"+ev.Kind.String()) }}
	assert.Equal(t, "a:attempt", func() string {
		observe.Multi(nil, a).Observe(context.Background(), observe.Event{Kind: observe.KindAttempt})
		return got[0]
	}(), "one observer is itself")
	got = nil
	m := observe.Multi(a, nil, b)
	m.Observe(context.Background(), observe.Event{Kind: observe.KindStale})
	assert.Equal(t, []string{"a:stale", "b:stale"}, got)
	p := observe.PropagatorOf(m)
	if assert.NotNil(t, p, "a Propagator among them makes Multi one") {
		_, carried := p.Inject(context.Background())
		assert.Equal(t, "p", string(carried))
	}
	assert.Nil(t, observe.PropagatorOf(observe.Multi(a, a)))
	assert.Nil(t, observe.PropagatorOf(nil))
}

func TestNames(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range observe.Kinds() {
		s := k.String()
		assert.NotEqual(t, "unknown", s, "kind %d has a name", k)
		assert.False(t, seen[s], "%s is unique", s)
		seen[s] = true
	}
	assert.Equal(t, "unknown", observe.Kind(0).String())
	assert.Equal(t, "unknown", observe.Kind(255).String())
	assert.Equal(t, "client", observe.Client.String())
	assert.Equal(t, "broker", observe.Broker.String())
	assert.Equal(t, "unknown", observe.Component(0).String())
}

func TestFromMonitor(t *testing.T) {
	for ev, want := range map[zmq.Event]string{
		zmq.EVENT_CONNECTED: "connected", zmq.EVENT_ACCEPTED: "accepted", zmq.EVENT_DISCONNECTED: "disconnected",
		zmq.EVENT_CONNECT_RETRIED: "connect_retried", zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake_failed auth",
		zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake_failed protocol", zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed no_detail",
	} {
		out, ok := observe.FromMonitor(observe.Server, zmq.MonitorEvent{Event: ev, Addr: "tcp://x:1"})
		assert.True(t, ok)
		assert.Equal(t, want, out.Kind.String()+map[bool]string{true: " " + out.Name, false: ""}[out.Name != ""])
		assert.Equal(t, "tcp://x:1", out.Endpoint)
		assert.NotZero(t, observe.MonitorEvents&ev, "%v is watched", ev)
	}
	_, ok := observe.FromMonitor(observe.Server, zmq.MonitorEvent{Event: zmq.EVENT_HANDSHAKE_SUCCEEDED})
	assert.False(t, ok)
}
