package ppp

import (
	"context"
	"sync"
)

// runOnce is the Run/Close lifecycle that Queue and Worker share: Run
// may start once, Close is idempotent, and Close of a running Run cancels
// it and waits for it to return.
type runOnce struct {
	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returns
}

func newRunOnce() runOnce { return runOnce{done: make(chan struct{})} }

// start begins Run. It fails with closedErr after Close and with
// runningErr when Run already started. The returned context is cancelled
// by Close; the caller must call end when Run returns.
func (r *runOnce) start(ctx context.Context, closedErr, runningErr error) (context.Context, context.CancelFunc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return nil, nil, closedErr
	case r.running:
		return nil, nil, runningErr
	}
	r.running = true
	ctx, r.cancel = context.WithCancel(ctx)
	return ctx, r.cancel, nil
}

// end marks Run as returned.
func (r *runOnce) end() { close(r.done) }

// result is what Run returns when it stops for ctx: closedErr after Close,
// else ctx's error.
func (r *runOnce) result(ctx context.Context, closedErr error) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return closedErr
	}
	return ctx.Err()
}

// close marks the owner closed. It reports false when it already was;
// otherwise it stops a running Run and waits for it, and reports whether
// Run ever started (if not, the owner still has its resources to free).
func (r *runOnce) close() (first, ran bool) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false, false
	}
	r.closed = true
	running, cancel := r.running, r.cancel
	r.mu.Unlock()
	if running {
		cancel()
		<-r.done
	}
	return true, running
}
