package reliable

import (
	"sync/atomic"
	"time"
)

// drain counts an endpoint's attempts in flight, so that an endpoint
// removed from a resolved set (NewClientFor) keeps its socket until the
// replies it is owed have come (or their attempts ended), and so that the
// least-outstanding balancer can compare endpoints.
//
// acquire and remove are ordered by the two atomics: an attempt either
// sees the removal and picks another endpoint, or the drainer sees the
// attempt in flight and waits for it.
type drain struct {
	inflight atomic.Int64
	removed  atomic.Bool
	idle     chan struct{} // a token each time inflight drops to 0
}

// acquire counts an attempt about to be sent; false when the endpoint was
// removed (the attempt must go elsewhere).
func (d *drain) acquire() bool {
	d.inflight.Add(1)
	if d.removed.Load() {
		d.release()
		return false
	}
	return true
}

// release ends an attempt counted by acquire.
func (d *drain) release() {
	// Only a drainer (retire, after removed) waits for the token: see
	// the ordering above.
	if d.inflight.Add(-1) == 0 && d.removed.Load() {
		select {
		case d.idle <- struct{}{}:
		default:
		}
	}
}

// outstanding is the number of attempts in flight.
func (d *drain) outstanding() int64 { return d.inflight.Load() }

// retire removes the endpoint from use and closes it once no attempt is
// in flight, or after grace, or when the client closes, whichever comes
// first. New attempts no longer pick it (acquire fails).
func (ep *endpoint) retire(grace time.Duration) {
	ep.removed.Store(true)
	t := time.NewTimer(grace)
	defer t.Stop()
	for ep.inflight.Load() > 0 {
		select {
		case <-ep.idle:
		case <-t.C:
			ep.shutdown()
			return
		case <-ep.closing.Done():
			ep.shutdown()
			return
		}
	}
	ep.shutdown()
}
