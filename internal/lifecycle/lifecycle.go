// Package lifecycle is the Run/Close contract of zmqguard's long-running
// components (the Majordomo broker and worker, the Binary Star pair): Run
// starts at most once and stops when its context ends or Close is called;
// Close is idempotent, cancels a running Run and waits for it to return.
//
// A Once is safe for concurrent use. It owns no goroutine.
package lifecycle

import (
	"context"
	"sync"
)

// Once tracks one component's Run and Close. Its zero value is not ready:
// use New.
type Once struct {
	mu      sync.Mutex
	started bool
	closed  bool
	stop    context.CancelFunc
	stopped chan struct{} // closed by Stopped
}

// New returns a Once for a component that has neither run nor closed.
func New() *Once { return &Once{stopped: make(chan struct{})} }

// Start marks Run as started and returns the context Run works under:
// ctx, cancelled by Close. It returns closed if Close came first and
// running if Run already started; otherwise the caller must call Stopped
// when Run returns.
func (o *Once) Start(ctx context.Context, closed, running error) (context.Context, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, closed
	}
	if o.started {
		return nil, running
	}
	o.started = true
	ctx, o.stop = context.WithCancel(ctx)
	return ctx, nil
}

// Stopped marks Run as returned and releases Close. Call it once, after
// Start succeeded.
func (o *Once) Stopped() {
	o.stop()
	close(o.stopped)
}

// Err is what Run returns once its context has ended: closed after
// Close, else the error of ctx (the context Run was called with).
func (o *Once) Err(ctx context.Context, closed error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return closed
	}
	return ctx.Err()
}

// Close marks the component closed. first is false when it already was
// (Close must then do nothing more); ran says whether Run had started, in
// which case Close has cancelled it and waited for it to return (if not,
// the caller still owns the resources Run would have freed).
func (o *Once) Close() (first, ran bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false, false
	}
	o.closed = true
	started, stop := o.started, o.stop
	o.mu.Unlock()
	if started {
		stop()
		<-o.stopped
	}
	return true, started
}
