package dnstest_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/contrib/dnstest"
	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/internal/resolvetest"
)

func start(t *testing.T) *dnstest.Server {
	s, err := dnstest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

var ip = netip.MustParseAddr

func TestDNSAAndAAAA(t *testing.T) {
	s := start(t)
	s.SetAddrs("svc.zmq.test", ip("127.0.0.2"), ip("127.0.0.1"), ip("::1"))
	r, err := discovery.Parse("dns://"+s.Addr()+"/svc.zmq.test:5555", discovery.WithResolveInterval(50*time.Millisecond),
		discovery.WithMinResolveInterval(10*time.Millisecond))
	require.NoError(t, err)
	ch := resolvetest.Watch(t, r, nil)
	u := resolvetest.Next(t, ch, 10*time.Second)
	require.NoError(t, u.Err)
	assert.Equal(t, []string{"tcp://127.0.0.1:5555", "tcp://127.0.0.2:5555", "tcp://[::1]:5555"}, u.Endpoints)

	// A change is reported within a resolve interval; an unchanged set is
	// not reported again.
	changed := time.Now()
	s.SetAddrs("svc.zmq.test", ip("127.0.0.3"))
	u = resolvetest.Next(t, ch, 10*time.Second)
	require.NoError(t, u.Err)
	assert.Equal(t, []string{"tcp://127.0.0.3:5555"}, u.Endpoints)
	assert.Less(t, time.Since(changed), time.Second)
}

func TestDNSSRV(t *testing.T) {
	s := start(t)
	s.SetAddrs("a.zmq.test", ip("127.0.0.1"))
	s.SetAddrs("b.zmq.test", ip("127.0.0.2"), ip("127.0.0.3"))
	require.NoError(t, s.SetSRV("_zmq._tcp.svc.zmq.test", "a.zmq.test:7001", "b.zmq.test:7002"))
	r, err := discovery.Parse("dns+srv://" + s.Addr() + "/_zmq._tcp.svc.zmq.test")
	require.NoError(t, err)
	u := resolvetest.Next(t, resolvetest.Watch(t, r, nil), 10*time.Second)
	require.NoError(t, u.Err)
	assert.Equal(t, []string{"tcp://127.0.0.1:7001", "tcp://127.0.0.2:7002", "tcp://127.0.0.3:7002"}, u.Endpoints)
}

// TestDNSFailureKeepsLastSet: SERVFAIL and NXDOMAIN are reported as
// errors, and the set in force is not emptied; the next good answer is
// reported.
func TestDNSFailureKeepsLastSet(t *testing.T) {
	s := start(t)
	s.SetAddrs("svc.zmq.test", ip("127.0.0.1"))
	r, err := discovery.NewDNS("svc.zmq.test:1", discovery.WithDNSServer(s.Addr()),
		discovery.WithResolveInterval(30*time.Millisecond), discovery.WithMinResolveInterval(10*time.Millisecond))
	require.NoError(t, err)
	ch := resolvetest.Watch(t, r, nil)
	assert.Equal(t, []string{"tcp://127.0.0.1:1"}, resolvetest.Next(t, ch, 10*time.Second).Endpoints)
	s.Fail(true)
	u := resolvetest.Next(t, ch, 10*time.Second)
	assert.Error(t, u.Err)
	assert.Nil(t, u.Endpoints)
	s.Fail(false)
	s.SetAddrs("svc.zmq.test", ip("127.0.0.9"))
	for u = resolvetest.Next(t, ch, 10*time.Second); u.Err != nil; u = resolvetest.Next(t, ch, 10*time.Second) {
	}
	assert.Equal(t, []string{"tcp://127.0.0.9:1"}, u.Endpoints)
}

// TestDNSResolveNowHonoursMinInterval: hints faster than the minimum
// interval do not make queries faster than it.
func TestDNSResolveNowHonoursMinInterval(t *testing.T) {
	s := start(t)
	s.SetAddrs("svc.zmq.test", ip("127.0.0.1"))
	r, err := discovery.NewDNS("svc.zmq.test:1", discovery.WithDNSServer(s.Addr()),
		discovery.WithResolveInterval(time.Hour), discovery.WithMinResolveInterval(100*time.Millisecond))
	require.NoError(t, err)
	now := make(chan struct{})
	ch := resolvetest.Watch(t, r, now)
	resolvetest.Next(t, ch, 10*time.Second)
	start := time.Now()
	base := s.Queries()
	for time.Since(start) < 500*time.Millisecond {
		select {
		case now <- struct{}{}:
		case <-time.After(time.Millisecond):
		}
	}
	// At most one resolution per 100 ms (A and AAAA: 2 queries each), and
	// at least one: the hints were honoured.
	q := s.Queries() - base
	assert.LessOrEqual(t, q, int64(2*6), "queries in 500ms")
	assert.GreaterOrEqual(t, q, int64(2*3), "queries in 500ms")
}
