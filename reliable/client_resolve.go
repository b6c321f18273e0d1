package reliable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/zmq"
)

// ErrNeedsCorrelated is returned by NewClientFor with WithMode(Plain): a
// resolved client balances many requests in flight over its endpoints,
// which only Correlated mode does.
var ErrNeedsCorrelated = errors.New("reliable: NewClientFor needs Correlated mode")

// ErrTooManyEndpoints is matched by ResolveError when the resolver
// reported more endpoints than WithMaxEndpoints allows: the client uses
// the first ones, in the resolver's (sorted) order.
var ErrTooManyEndpoints = errors.New("reliable: too many resolved endpoints")

// DefaultMaxEndpoints is how many resolved endpoints a client connects to
// at most (WithMaxEndpoints): each is a socket and a monitor goroutine.
const DefaultMaxEndpoints = 256

// WithMaxEndpoints caps how many resolved endpoints a NewClientFor client
// connects to (DefaultMaxEndpoints); at least 1. It has no effect on
// NewClient.
func WithMaxEndpoints(n int) ClientOption {
	return func(c *clientConfig) error {
		if n < 1 {
			return optionError("WithMaxEndpoints", fmt.Sprintf("%d < 1", n))
		}
		c.maxEndpoints = n
		return nil
	}
}

// NewClientFor creates a client whose endpoints r resolves (a
// discovery.Static list, discovery.DNS, an etcd resolver from
// contrib/etcd). The client diff-connects: an endpoint that appears gets a
// socket and starts taking requests once connected; one that disappears
// takes no new attempt, keeps its socket until the replies it is owed have
// come (at most AttemptTimeout), and is then closed, so a server that
// deregisters before it stops loses no reply. An attempt whose peer dies
// fails over to another endpoint like any other (see Client). While no
// endpoint is connected requests wait for one, as with NewClient, and the
// client asks r for a new resolution. Requests are spread over the
// endpoints by the balancer (WithBalancer). Close stops resolving.
func NewClientFor(zctx *zmq.Context, r discovery.Resolver, opts ...ClientOption) (*Client, error) {
	if zctx == nil {
		return nil, errors.New("reliable: NewClientFor: nil *zmq.Context")
	}
	if r == nil {
		return nil, errors.New("reliable: NewClientFor: nil resolver")
	}
	c, err := newClient(zctx, opts)
	if err != nil {
		return nil, err
	}
	if c.cfg.mode != Correlated {
		return nil, ErrNeedsCorrelated
	}
	c.set = newEndpointSet(c, r)
	return c, nil
}

// Endpoints returns the endpoints the client is using now: its resolved
// set (NewClientFor), or the endpoints given to NewClient.
func (c *Client) Endpoints() []string {
	if c.set == nil {
		var out []string
		for _, ep := range c.eps {
			out = append(out, ep.addr)
		}
		if c.plain != nil {
			for _, ep := range c.plain.eps {
				out = append(out, ep.addr)
			}
		}
		return out
	}
	var out []string
	for _, ep := range c.set.current() {
		out = append(out, ep.addr)
	}
	return out
}

// ResolveError returns the error of the resolver's last resolution, nil
// when it succeeded or for a client made with NewClient. A resolution
// that succeeded but listed endpoints the client could not use (not a
// ZeroMQ endpoint, over WithMaxEndpoints, a socket that could not be
// opened) reports why; the others are used.
func (c *Client) ResolveError() error {
	if c.set == nil {
		return nil
	}
	if p := c.set.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// endpointSet is a resolved client's endpoints: the live ones by address,
// a snapshot of them for the balancer, and the removed ones still
// draining.
type endpointSet struct {
	c   *Client
	now chan struct{} // asks the resolver for a resolution

	snap    atomic.Pointer[[]*endpoint]
	lastErr atomic.Pointer[error]

	mu       sync.Mutex
	live     map[string]*endpoint
	closed   bool
	draining sync.WaitGroup

	stop context.CancelFunc
	done chan struct{}
}

func newEndpointSet(c *Client, r discovery.Resolver) *endpointSet {
	s := &endpointSet{c: c, now: make(chan struct{}, 1), live: make(map[string]*endpoint), done: make(chan struct{})}
	s.snap.Store(&[]*endpoint{})
	ctx, stop := context.WithCancel(c.closing)
	s.stop = stop
	go func() {
		defer close(s.done)
		err := r.Resolve(ctx, s.now, s.update)
		if err != nil {
			s.lastErr.Store(&err)
		}
	}()
	return s
}

// current returns the live endpoints; the caller must not change it.
func (s *endpointSet) current() []*endpoint { return *s.snap.Load() }

// resolveNow asks the resolver for a resolution, without waiting.
func (s *endpointSet) resolveNow() {
	select {
	case s.now <- struct{}{}:
	default:
	}
}

// update applies what the resolver reports: endpoints that appeared are
// opened, those that went are retired (drained, then closed).
func (s *endpointSet) update(u discovery.Update) {
	if u.Err != nil {
		s.lastErr.Store(&u.Err)
		return
	}
	var bad error // reported once the set is in force
	want := make(map[string]bool, len(u.Endpoints))
	for _, addr := range u.Endpoints {
		switch err := checkEndpoints([]string{addr}); {
		case err != nil:
			bad = err // skipped
		case len(want) == s.c.cfg.maxEndpoints:
			bad = fmt.Errorf("%w: %d resolved, %d used", ErrTooManyEndpoints, len(u.Endpoints), len(want))
		default:
			want[addr] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for addr, ep := range s.live {
		if !want[addr] {
			delete(s.live, addr)
			s.draining.Add(1)
			go func() {
				defer s.draining.Done()
				ep.retire(s.c.cfg.attemptTimeout)
			}()
		}
	}
	for addr := range want {
		if s.live[addr] != nil {
			continue
		}
		ep, err := openEndpoint(s.c.zctx, &s.c.cfg, addr, zmq.DEALER, s.c.closing, &s.c.ups)
		if err != nil {
			// Tried again when the resolver next reports the set.
			bad = fmt.Errorf("reliable: resolved endpoint %s: %w", addr, err)
			continue
		}
		s.live[addr] = ep
	}
	snap := make([]*endpoint, 0, len(s.live))
	for _, ep := range s.live {
		snap = append(snap, ep)
	}
	slices.SortFunc(snap, func(a, b *endpoint) int { return strings.Compare(a.addr, b.addr) })
	if testHookBeforeSnapshot != nil {
		testHookBeforeSnapshot()
	}
	s.snap.Store(&snap)
	// An endpoint opened above may have come up before the snapshot held
	// it, and a request woken by that looked at the old set: wake it again.
	s.c.ups.fire()
	if bad != nil {
		s.lastErr.Store(&bad)
	} else {
		s.lastErr.Store(nil)
	}
}

// testHookBeforeSnapshot, when set by a test, runs in update just before
// the new set is published.
var testHookBeforeSnapshot func()

// close stops the resolver, closes the live endpoints and waits for the
// draining ones (the client's closing ends their drain).
func (s *endpointSet) close() {
	s.stop()
	<-s.done
	s.mu.Lock()
	s.closed = true
	live := s.live
	s.live = nil
	s.snap.Store(&[]*endpoint{})
	s.mu.Unlock()
	for _, ep := range live {
		ep.shutdown()
	}
	s.draining.Wait()
}
