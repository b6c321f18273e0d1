package discovery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/internal/resolvetest"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestParse(t *testing.T) {
	r, err := discovery.Parse("tcp://b:1, tcp://a:2,tcp://b:1")
	require.NoError(t, err)
	assert.Equal(t, discovery.Static{"tcp://b:1", " tcp://a:2", "tcp://b:1"}, r)
	_, err = discovery.Parse("dns:///svc.example:5555")
	require.NoError(t, err)
	_, err = discovery.Parse("dns://127.0.0.1:5353/svc.example:5555")
	require.NoError(t, err)
	_, err = discovery.Parse("dns+srv:///_zmq._tcp.svc.example")
	require.NoError(t, err)
	for _, bad := range []string{"", " , ", "svc:5555", "dns:///svc", "dns:///svc:0", "dns:///svc:http", "dns://x", "dns+srv:///", "dns:///:5555"} {
		_, err := discovery.Parse(bad)
		assert.ErrorIs(t, err, discovery.ErrTarget, "%q", bad)
	}
	_, err = discovery.Parse("tcp://a:1", discovery.WithResolveInterval(time.Second))
	assert.ErrorIs(t, err, discovery.ErrTarget)
	var oe *zmq.OptionError
	for _, opt := range []discovery.DNSOption{discovery.WithResolveInterval(0), discovery.WithMinResolveInterval(-1),
		discovery.WithLookupTimeout(0), discovery.WithDNSServer(""), discovery.WithNetResolver(nil), discovery.WithScheme(""), nil} {
		_, err := discovery.NewDNS("a:1", opt)
		assert.ErrorAs(t, err, &oe)
	}
}

func TestNormalize(t *testing.T) {
	in := []string{"b", "", "a", " b "}
	assert.Equal(t, []string{"a", "b"}, discovery.Normalize(in))
	assert.Equal(t, []string{"b", "", "a", " b "}, in, "Normalize changed its input")
}

func TestStaticAndManual(t *testing.T) {
	u := resolvetest.Next(t, resolvetest.Watch(t, discovery.Static{"tcp://b:1", "tcp://a:1"}, nil), 5*time.Second)
	assert.Equal(t, []string{"tcp://a:1", "tcp://b:1"}, u.Endpoints)

	m := discovery.NewManual("tcp://a:1")
	ch := resolvetest.Watch(t, m, nil)
	assert.Equal(t, []string{"tcp://a:1"}, resolvetest.Next(t, ch, 5*time.Second).Endpoints)
	m.Set("tcp://c:1", "tcp://b:1")
	assert.Equal(t, []string{"tcp://b:1", "tcp://c:1"}, resolvetest.Next(t, ch, 5*time.Second).Endpoints)
	m.Set()
	assert.Empty(t, resolvetest.Next(t, ch, 5*time.Second).Endpoints)
}

// TestDNSResolvesHostsFile resolves localhost (the hosts file: no network)
// with the standard library's resolver. The in-process DNS server tests
// are in contrib/dnstest, whose module may depend on a DNS server library.
func TestDNSResolvesHostsFile(t *testing.T) {
	r, err := discovery.Parse("dns:///localhost:5555", discovery.WithResolveInterval(time.Hour))
	require.NoError(t, err)
	u := resolvetest.Next(t, resolvetest.Watch(t, r, nil), 5*time.Second)
	require.NoError(t, u.Err)
	assert.Contains(t, u.Endpoints, "tcp://127.0.0.1:5555")
	for _, e := range u.Endpoints {
		assert.Contains(t, []string{"tcp://127.0.0.1:5555", "tcp://[::1]:5555"}, e)
	}
}

func TestDNSFailureKeepsSetAndRetries(t *testing.T) {
	// A server address where nothing answers: every resolution fails
	// (fast: connection refused over UDP, or the lookup timeout).
	r, err := discovery.NewDNS("svc.invalid:1", discovery.WithDNSServer("127.0.0.1:1"),
		discovery.WithLookupTimeout(200*time.Millisecond), discovery.WithMinResolveInterval(20*time.Millisecond),
		discovery.WithResolveInterval(time.Hour))
	require.NoError(t, err)
	now := make(chan struct{}, 1)
	ch := resolvetest.Watch(t, r, now)
	start := time.Now()
	u1 := resolvetest.Next(t, ch, 5*time.Second)
	require.Error(t, u1.Err)
	assert.Nil(t, u1.Endpoints)
	u2 := resolvetest.Next(t, ch, 5*time.Second) // retried with backoff from the minimum interval, not the hour
	require.Error(t, u2.Err)
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestDrainOrder(t *testing.T) {
	var order []string
	reg := &fakeReg{deregister: func() { order = append(order, "deregister") }}
	start := time.Now()
	err := discovery.Drain(context.Background(), reg, 50*time.Millisecond, func(context.Context) error {
		order = append(order, "stop")
		return errors.New("stop failed")
	})
	assert.ErrorContains(t, err, "stop failed")
	assert.Equal(t, []string{"deregister", "stop"}, order)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	// ctx ending cuts the grace short, and stop still runs.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := false
	require.NoError(t, discovery.Drain(ctx, nil, time.Hour, func(context.Context) error { stopped = true; return nil }))
	assert.True(t, stopped)
}

// fakeReg is a Registration for testing Drain's order alone (the real
// registrar is contrib/etcd's, tested against a real etcd there).
type fakeReg struct{ deregister func() }

func (f *fakeReg) Deregister(context.Context) error { f.deregister(); return nil }
func (f *fakeReg) Lost() <-chan struct{}            { return nil }
