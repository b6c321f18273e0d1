package heartbeat

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

// watchedEvents are the monitor events a Watcher folds into peer states.
const watchedEvents = zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED |
	zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED |
	zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL |
	zmq.EVENT_HANDSHAKE_FAILED_AUTH

// Watcher folds a socket's monitor events into a [Sink] (usually a
// [Tracker]), so that connection state and libzmq's native heartbeats (see
// [SetNative]) feed the same peer states as application heartbeats:
//
//   - EVENT_CONNECTED starts tracking the peer (Track) without calling it
//     alive: a TCP connection to a frozen process is still accepted by its
//     kernel;
//   - EVENT_HANDSHAKE_SUCCEEDED is proof of life (Observe), and while the
//     connection stays up the Watcher observes the peer again every refresh
//     period, because libzmq's heartbeats vouch for it;
//   - EVENT_DISCONNECTED (which is how a native heartbeat timeout shows),
//     EVENT_CLOSED and a failed handshake mark the peer Dead (MarkDead).
//
// The peer is named by the event's endpoint unless [WithPeerName] says
// otherwise. On a connecting socket that is the endpoint connected to; on a
// binding socket every connection reports the bound endpoint, so the
// Watcher cannot tell its peers apart: watch connecting sockets.
//
// A Watcher uses the socket's monitor (libzmq allows one per socket). It
// owns one goroutine; Close stops it. It is safe for concurrent use.
type Watcher struct {
	mon     *zmq.Monitor
	sink    Sink
	name    func(addr string) string
	refresh time.Duration
	obs     observe.Observer
	comp    observe.Component

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// watchConfig collects what WatchOptions set.
type watchConfig struct {
	name    func(addr string) string
	refresh time.Duration
	obs     observe.Observer
	comp    observe.Component
}

// WatchOption configures a Watcher in [Watch]. An invalid option, or a
// nil one, makes Watch fail with a *zmq.OptionError.
type WatchOption func(*watchConfig) error

// WithPeerName names the peer of every event: the Watcher reports the
// events of endpoint addr under name(addr). The default is the endpoint
// itself. name must not be nil.
func WithPeerName(name func(addr string) string) WatchOption {
	return func(c *watchConfig) error {
		if name == nil {
			return optionError("WithPeerName", "nil function")
		}
		c.name = name
		return nil
	}
}

// WithRefresh sets how often a connected peer is observed again. The
// default is half the Tracker's Interval when the sink is a *Tracker, half
// of DefaultInterval otherwise, so that a connected peer never turns
// Suspect. It must be positive.
func WithRefresh(d time.Duration) WatchOption {
	return func(c *watchConfig) error {
		if d <= 0 {
			return optionError("WithRefresh", fmt.Sprintf("%v is not positive", d))
		}
		c.refresh = d
		return nil
	}
}

// Watch starts a monitor on s and folds its events into sink. Start it
// before s connects, so that no event is missed. Close the Watcher before
// closing the socket's context.
func Watch(s *zmq.Socket, sink Sink, opts ...WatchOption) (*Watcher, error) {
	if s == nil || sink == nil {
		return nil, errors.New("heartbeat: Watch: nil socket or sink")
	}
	c := watchConfig{name: func(addr string) string { return addr }}
	if tr, ok := sink.(*Tracker); ok {
		c.refresh = tr.Policy().Interval / 2
	} else {
		c.refresh = DefaultInterval / 2
	}
	if err := option.Apply(&c, opts); err != nil {
		return nil, err
	}
	events := watchedEvents
	if c.obs != nil {
		events |= observe.MonitorEvents
	}
	mon, err := s.StartMonitor(events)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: Watch: %w", err)
	}
	w := &Watcher{mon: mon, sink: sink, name: c.name, refresh: c.refresh, obs: c.obs, comp: c.comp,
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w, nil
}

// Close stops the monitor and the Watcher's goroutine and waits for it.
// It does not change the peers' states. Close is idempotent and returns
// nil.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.mon.Close()
		<-w.done
	})
	return nil
}

// Done is closed when the Watcher stops: after Close, or when the watched
// socket is closed.
func (w *Watcher) Done() <-chan struct{} { return w.done }

func (w *Watcher) run() {
	defer close(w.done)
	up := make(map[string]bool) // peers with a live connection
	tick := time.NewTicker(w.refresh)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-w.mon.Events():
			if !ok {
				return
			}
			w.fold(ev, up)
		case <-tick.C:
			for p := range up {
				w.sink.Observe(p)
			}
		case <-w.stop:
			return
		}
	}
}

// fold applies one monitor event.
func (w *Watcher) fold(ev zmq.MonitorEvent, up map[string]bool) {
	p := w.name(ev.Addr)
	if w.obs != nil {
		w.observe(ev)
	}
	switch ev.Event {
	case zmq.EVENT_CONNECTED:
		w.sink.Track(p)
	case zmq.EVENT_HANDSHAKE_SUCCEEDED:
		up[p] = true
		w.sink.Observe(p)
	case zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED,
		zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
		zmq.EVENT_HANDSHAKE_FAILED_AUTH:
		delete(up, p)
		w.sink.Track(p) // MarkDead ignores untracked peers
		w.sink.MarkDead(p)
	}
}
