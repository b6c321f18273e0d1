package reliable_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// replica is a server under test that counts what it executed, by
// request body.
type replica struct {
	*served
	name  string
	delay atomic.Int64 // handler time, ns
	execs sync.Map     // body -> *atomic.Int32
	count atomic.Int64
}

func newReplica(t *testing.T, zctx *zmq.Context, name string) *replica {
	r := &replica{name: name}
	r.served = listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		n, _ := r.execs.LoadOrStore(string(req[0]), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		r.count.Add(1)
		if d := time.Duration(r.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		return [][]byte{[]byte(r.name)}, nil
	})
	return r
}

// executedTwice counts bodies executed more than once across replicas.
func executedTwice(rs ...*replica) int {
	seen := map[string]int32{}
	for _, r := range rs {
		r.execs.Range(func(k, v any) bool {
			seen[k.(string)] += v.(*atomic.Int32).Load()
			return true
		})
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	return dups
}

func TestResolvedClientSpreadsRoundRobin(t *testing.T) {
	zctx := zmqtest.Context(t)
	rs := []*replica{newReplica(t, zctx, "a"), newReplica(t, zctx, "b"), newReplica(t, zctx, "c")}
	m := discovery.NewManual(rs[0].addr, rs[1].addr, rs[2].addr)
	c, err := reliable.NewClientFor(zctx, m, reliable.WithBalancer(reliable.RoundRobin))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Wait until all three are connected: the first requests may all go
	// to the first one up.
	for _, r := range rs {
		for r.count.Load() == 0 {
			_, err := c.Request(ctx, []byte("warm"))
			require.NoError(t, err)
		}
	}
	base := []int64{rs[0].count.Load(), rs[1].count.Load(), rs[2].count.Load()}
	for i := range 300 {
		_, err := c.Request(ctx, fmt.Appendf(nil, "r%d", i))
		require.NoError(t, err)
	}
	for i, r := range rs {
		got := r.count.Load() - base[i]
		assert.InDelta(t, 100, got, 5, "replica %s got %d of 300", r.name, got)
	}
	assert.Len(t, c.Endpoints(), 3)
}

func TestResolvedClientLeastOutstandingAvoidsSlowReplica(t *testing.T) {
	zctx := zmqtest.Context(t)
	slow, fast := newReplica(t, zctx, "slow"), newReplica(t, zctx, "fast")
	slow.delay.Store(int64(50 * time.Millisecond))
	c, err := reliable.NewClientFor(zctx, discovery.Static{slow.addr, fast.addr},
		reliable.WithBalancer(reliable.LeastOutstanding))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for slow.count.Load() == 0 || fast.count.Load() == 0 {
		_, err := c.Request(ctx, []byte("warm"))
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				_, err := c.Request(ctx, fmt.Appendf(nil, "g%d-%d", g, i))
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	assert.Greater(t, fast.count.Load(), 3*slow.count.Load(), "fast %d, slow %d", fast.count.Load(), slow.count.Load())
}

// TestResolvedClientMembership: a replica that leaves the set drains (its
// replies in flight arrive, nothing is executed twice), one that joins
// takes requests.
func TestResolvedClientMembership(t *testing.T) {
	zctx := zmqtest.Context(t)
	a, b := newReplica(t, zctx, "a"), newReplica(t, zctx, "b")
	a.delay.Store(int64(100 * time.Millisecond))
	b.delay.Store(int64(100 * time.Millisecond))
	m := discovery.NewManual(a.addr, b.addr)
	c, err := reliable.NewClientFor(zctx, m, reliable.WithBalancer(reliable.RoundRobin))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var errs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Request(ctx, fmt.Appendf(nil, "q%d", seq.Add(1))); err != nil {
					errs.Add(1)
					t.Log(err)
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "both replicas serving", func() bool { return a.count.Load() > 5 && b.count.Load() > 5 })
	// a leaves while requests to it are in flight.
	m.Set(b.addr)
	aLeft := a.count.Load()
	waitFor(t, 10*time.Second, "a removed", func() bool { return len(c.Endpoints()) == 1 })
	time.Sleep(300 * time.Millisecond) // let requests run on b alone
	assert.LessOrEqual(t, a.count.Load()-aLeft, int64(6), "a took new requests after it left")
	// d joins and takes requests.
	d := newReplica(t, zctx, "d")
	joined := time.Now()
	m.Set(b.addr, d.addr)
	waitFor(t, 10*time.Second, "d serving", func() bool { return d.count.Load() > 0 })
	t.Logf("traffic reached the new replica %v after it joined", time.Since(joined))
	close(stop)
	wg.Wait()
	assert.Zero(t, errs.Load(), "requests failed")
	assert.Zero(t, executedTwice(a, b, d), "requests executed twice")
}

func TestNewClientForOptions(t *testing.T) {
	zctx := zmqtest.Context(t)
	_, err := reliable.NewClientFor(zctx, discovery.Static{"tcp://127.0.0.1:1"}, reliable.WithMode(reliable.Plain))
	assert.ErrorIs(t, err, reliable.ErrNeedsCorrelated)
	_, err = reliable.NewClientFor(zctx, discovery.Static{"tcp://127.0.0.1:1"}, reliable.WithBalancer(reliable.Balancer(9)))
	var oe *zmq.OptionError
	assert.ErrorAs(t, err, &oe)
	_, err = reliable.NewClientFor(zctx, nil)
	assert.Error(t, err)
	// No endpoint at all: a request waits for one, then gives up.
	c, err := reliable.NewClientFor(zctx, discovery.NewManual())
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Request(ctx, []byte("x"))
	assert.ErrorIs(t, err, reliable.ErrNoReply)
	assert.Equal(t, "round-robin", reliable.RoundRobin.String())
}

// TestResolvedClientBadSets: endpoints the client cannot use are skipped
// and said by ResolveError; the set is capped by WithMaxEndpoints.
func TestResolvedClientBadSets(t *testing.T) {
	zctx := zmqtest.Context(t)
	a := newReplica(t, zctx, "a")
	m := discovery.NewManual("not an endpoint", "tcp://", a.addr)
	c, err := reliable.NewClientFor(zctx, m, reliable.WithMaxEndpoints(2))
	require.NoError(t, err)
	defer c.Close()
	waitFor(t, 10*time.Second, "a resolved", func() bool { return len(c.Endpoints()) == 1 })
	assert.Equal(t, []string{a.addr}, c.Endpoints())
	assert.Error(t, c.ResolveError())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := c.Request(ctx, []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, "a", string(rep[0]))

	m.Set("tcp://127.0.0.1:1", "tcp://127.0.0.1:2", "tcp://127.0.0.1:3")
	waitFor(t, 10*time.Second, "capped set", func() bool {
		return errors.Is(c.ResolveError(), reliable.ErrTooManyEndpoints)
	})
	assert.Equal(t, []string{"tcp://127.0.0.1:1", "tcp://127.0.0.1:2"}, c.Endpoints())
	m.Set(a.addr)
	waitFor(t, 10*time.Second, "good set", func() bool { return c.ResolveError() == nil })

	_, err = reliable.NewClientFor(zctx, m, reliable.WithMaxEndpoints(0))
	var oe *zmq.OptionError
	assert.ErrorAs(t, err, &oe)
}

// TestBalancedRetryGoesElsewhere: a replica that answers every request
// with a retryable error (overloaded) costs a retry, which goes to the
// other replica: no request fails; and it is skipped from then on.
func TestBalancedRetryGoesElsewhere(t *testing.T) {
	for _, b := range []reliable.Balancer{reliable.RoundRobin, reliable.LeastOutstanding, reliable.HealthFirst} {
		t.Run(b.String(), func(t *testing.T) {
			zctx := zmqtest.Context(t)
			var busy atomic.Int64
			overloaded := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
				busy.Add(1)
				return nil, &reliable.RemoteError{Code: wire.CodeOverloaded, Message: "busy"}
			})
			good := newReplica(t, zctx, "good")
			c, err := reliable.NewClientFor(zctx, discovery.Static{overloaded.addr, good.addr},
				reliable.WithBalancer(b), reliable.WithMaxAttempts(2), reliable.WithBackoff(reliable.Backoff{Initial: time.Millisecond}))
			require.NoError(t, err)
			defer c.Close()
			waitFor(t, 10*time.Second, "both resolved", func() bool { return len(c.Endpoints()) == 2 })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range 50 {
				rep, err := c.Request(ctx, fmt.Appendf(nil, "r%d", i))
				require.NoError(t, err)
				assert.Equal(t, "good", string(rep[0]))
			}
			// An overloaded answer counts against the replica's health:
			// later requests go to the good one first.
			t.Logf("%s: %d attempts went to the overloaded replica first", b, busy.Load())
			assert.Less(t, busy.Load(), int64(10))
		})
	}
}
