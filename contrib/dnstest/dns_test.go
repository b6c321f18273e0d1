package dnstest_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/contrib/dnstest"
	"github.com/zmqguard/zmqguard/discovery"
)

func start(t *testing.T) *dnstest.Server {
	s, err := dnstest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// watch runs r until the test ends; its updates arrive on the channel.
func watch(t *testing.T, r discovery.Resolver, now chan struct{}) <-chan discovery.Update {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan discovery.Update, 64)
	done := make(chan error, 1)
	go func() {
		done <- r.Resolve(ctx, now, func(u discovery.Update) {
			select {
			case ch <- u:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ch
}

func next(t *testing.T, ch <-chan discovery.Update) discovery.Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10s")
		return discovery.Update{}
	}
}

var ip = netip.MustParseAddr

func TestDNSAAndAAAA(t *testing.T) {
	s := start(t)
	s.SetAddrs("svc.zmq.test", ip("127.0.0.2"), ip("127.0.0.1"), ip("::1"))
	r, err := discovery.Parse("dns://"+s.Addr()+"/svc.zmq.test:5555", discovery.WithResolveInterval(50*time.Millisecond),
		discovery.WithMinResolveInterval(10*time.Millisecond))
	require.NoError(t, err)
	ch := watch(t, r, nil)
	u := next(t, ch)
	require.NoError(t, u.Err)
	assert.Equal(t, []string{"tcp://127.0.0.1:5555", "tcp://127.0.0.2:5555", "tcp://[::1]:5555"}, u.Endpoints)

	// A change is reported within a resolve interval; an unchanged set is
	// not reported again.
	changed := time.Now()
	s.SetAddrs("svc.zmq.test", ip("127.0.0.3"))
	u = next(t, ch)
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
	u := next(t, watch(t, r, nil))
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
	ch := watch(t, r, nil)
	assert.Equal(t, []string{"tcp://127.0.0.1:1"}, next(t, ch).Endpoints)
	s.Fail(true)
	u := next(t, ch)
	assert.Error(t, u.Err)
	assert.Nil(t, u.Endpoints)
	s.Fail(false)
	s.SetAddrs("svc.zmq.test", ip("127.0.0.9"))
	for u = next(t, ch); u.Err != nil; u = next(t, ch) {
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
	ch := watch(t, r, now)
	next(t, ch)
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
