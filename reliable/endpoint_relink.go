package reliable

import (
	"sync"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// libzmq 4.3 reconnects a connection that failed (the peer went away, a
// handshake timed out) but gives up on one that broke the protocol: a
// reply frame over the socket's ZMQ_MAXMSGSIZE (WithMaxReplySize) ends the
// connecting session for good, and the endpoint would never come up
// again. A correlated endpoint therefore watches for libzmq scheduling
// the reconnect (EVENT_CONNECT_RETRIED) after each disconnect, and when
// none comes within relinkDelay, connects again itself.

// relinkEvents are the monitor events a correlated endpoint watches in
// addition to its up/down events.
const relinkEvents = zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_CONNECTED

// relink is a correlated endpoint's reconnect watch.
type relink struct {
	mu      sync.Mutex
	delay   time.Duration
	timer   *time.Timer
	gen     uint64 // which disconnect the armed timer is for
	stopped bool
	running sync.WaitGroup // a reconnect in progress
}

// relinkDelay is how long after a disconnect an endpoint waits for libzmq
// to schedule its reconnect: libzmq does so at once, and retries after the
// reconnect interval.
func relinkDelay(reconnect time.Duration) time.Duration {
	return 2*reconnect + 100*time.Millisecond
}

// relinkOn folds a monitor event into the watch: a disconnect arms it, any
// sign of libzmq reconnecting disarms it. It runs on the monitor's
// goroutine.
func (ep *endpoint) relinkOn(ev zmq.MonitorEvent) {
	r := ep.relink
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	switch ev.Event {
	case zmq.EVENT_DISCONNECTED:
		r.gen++
		gen := r.gen
		if r.timer != nil {
			r.timer.Stop()
		}
		r.timer = time.AfterFunc(r.delay, func() { ep.relinkFire(gen) })
	case zmq.EVENT_CONNECT_RETRIED, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED:
		r.gen++ // a timer already firing for the last disconnect does nothing
		if r.timer != nil {
			r.timer.Stop()
		}
	}
}

// relinkFire connects the endpoint again when libzmq did not.
func (ep *endpoint) relinkFire(gen uint64) {
	r := ep.relink
	r.mu.Lock()
	if r.stopped || gen != r.gen {
		r.mu.Unlock()
		return
	}
	r.running.Add(1)
	r.mu.Unlock()
	defer r.running.Done()
	// Disconnect forgets the dead session (it may already be gone);
	// Connect starts a new one. Errors mean the socket is closing.
	_ = ep.sock.Disconnect(ep.addr)
	_ = ep.sock.Connect(ep.addr)
}

// relinkStop ends the watch and waits for a reconnect in progress. Call
// it before the socket is closed, or once the monitor has stopped.
func (ep *endpoint) relinkStop() {
	r := ep.relink
	if r == nil {
		return
	}
	r.mu.Lock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	r.running.Wait()
}
