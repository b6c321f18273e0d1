package zmq

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/engine"
)

// ErrMonitorActive is returned by StartMonitor on a socket that already
// has a monitor: libzmq supports one per socket.
var ErrMonitorActive = errors.New("zmq: socket already has a monitor")

// DefaultMonitorBuffer is the capacity of a Monitor's event channel.
const DefaultMonitorBuffer = 64

// MonitorEvent is one event reported by a socket monitor.
type MonitorEvent struct {
	Event Event     // EVENT_CONNECTED, EVENT_DISCONNECTED, ...
	Addr  string    // the endpoint the event concerns
	Value int       // a file descriptor, an errno or an interval, per Event
	At    time.Time // when zmqguard received the event
}

// String renders the event for logs.
func (e MonitorEvent) String() string {
	return fmt.Sprintf("%v %s (%d)", e.Event, e.Addr, e.Value)
}

// Monitor delivers a socket's events as typed values on a channel. It
// owns one goroutine, stopped by Close or by closing the monitored socket.
// Events that find the channel full are dropped and counted (Dropped); the
// monitor never blocks the socket.
//
// A Monitor is safe for concurrent use.
type Monitor struct {
	sock    *Socket
	events  Event
	ch      chan MonitorEvent
	dropped atomic.Uint64
	bad     atomic.Uint64

	mu      sync.Mutex // guards session and closed
	session *monitorSession
	closed  bool
}

// monitorSession is one libzmq monitor (an inproc PAIR pair) and the
// goroutine reading it. Reset replaces the session, not the Monitor.
type monitorSession struct {
	pair   *Socket
	cancel context.CancelFunc
	done   chan struct{}
}

// StartMonitor starts delivering the socket's events (EVENT_ALL for all) on
// the returned Monitor's channel. The channel holds DefaultMonitorBuffer
// events.
func (s *Socket) StartMonitor(events Event) (*Monitor, error) {
	m := &Monitor{sock: s, events: events, ch: make(chan MonitorEvent, DefaultMonitorBuffer)}
	err := s.core.Locked(func(raw *zmq4.Socket) error {
		if len(s.monitors) > 0 {
			// libzmq keeps one monitor per socket; a second would
			// silently replace the first.
			return ErrMonitorActive
		}
		sess, err := m.startLocked(raw)
		if err != nil {
			return err
		}
		m.session = sess
		if s.monitors == nil {
			s.monitors = make(map[*Monitor]struct{})
		}
		s.monitors[m] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// startLocked starts a session on raw, the monitored socket's current
// libzmq socket, inside its core.Locked.
func (m *Monitor) startLocked(raw *zmq4.Socket) (*monitorSession, error) {
	s := m.sock
	endpoint := fmt.Sprintf("inproc://zmqguard.monitor.%p.%d", s.ctx, s.ctx.nextID.Add(1))
	if err := s.ctx.retry(func() error { return raw.Monitor(endpoint, m.events) }); err != nil {
		return nil, err
	}
	pair, err := s.ctx.NewSocket(PAIR)
	if err == nil {
		pair.internal = true
		err = pair.Connect(endpoint)
	}
	if err != nil {
		raw.Monitor("", 0)
		if pair != nil {
			pair.Close()
		}
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	sess := &monitorSession{pair: pair, cancel: cancel, done: make(chan struct{})}
	go m.run(ctx, sess)
	return sess, nil
}

func (m *Monitor) run(ctx context.Context, sess *monitorSession) {
	defer close(sess.done)
	defer sess.pair.Close()
	for {
		lim := engine.Limit{Ctx: ctx, Timeout: -1}
		msg, err := sess.pair.core.RecvMessage(&lim, 0)
		if err != nil {
			return
		}
		ev, ok := parseMonitorEvent(msg)
		if !ok {
			m.bad.Add(1)
			continue
		}
		if ev.Event == EVENT_MONITOR_STOPPED {
			return
		}
		select {
		case m.ch <- ev:
		default:
			m.dropped.Add(1)
		}
	}
}

// parseMonitorEvent decodes libzmq's two-frame event: a 6-byte header
// (uint16 event, uint32 value, little-endian as the host) and the endpoint.
func parseMonitorEvent(msg [][]byte) (MonitorEvent, bool) {
	if len(msg) != 2 || len(msg[0]) != 6 {
		return MonitorEvent{}, false
	}
	return MonitorEvent{
		Event: Event(binary.LittleEndian.Uint16(msg[0][0:2])),
		Value: int(int32(binary.LittleEndian.Uint32(msg[0][2:6]))),
		Addr:  string(msg[1]),
		At:    time.Now(),
	}, true
}

// Events returns the event channel. It is closed when the monitor stops.
func (m *Monitor) Events() <-chan MonitorEvent { return m.ch }

// Dropped returns how many events were dropped because the channel was full.
func (m *Monitor) Dropped() uint64 { return m.dropped.Load() }

// Close stops the monitor, waits for its goroutine and closes the event
// channel. It is idempotent. Stopping tells libzmq first
// (zmq_socket_monitor with a NULL endpoint), so that a context can be
// terminated safely afterwards.
func (m *Monitor) Close() error {
	var live bool
	m.sock.core.Locked(func(raw *zmq4.Socket) error {
		_, live = m.sock.monitors[m]
		delete(m.sock.monitors, m)
		if live {
			raw.Monitor("", 0)
		}
		return nil
	})
	if live {
		m.finish()
	}
	return nil
}

// finish stops the session goroutine and closes the channel.
func (m *Monitor) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.session.stop()
	close(m.ch)
}

func (sess *monitorSession) stop() {
	sess.cancel()
	<-sess.done
}

// detachMonitorsLocked stops libzmq's monitors on raw and returns the
// monitors. The caller holds the socket's lock.
func (s *Socket) detachMonitorsLocked(raw *zmq4.Socket) []*Monitor {
	mons := make([]*Monitor, 0, len(s.monitors))
	for m := range s.monitors {
		raw.Monitor("", 0)
		mons = append(mons, m)
	}
	return mons
}

// reattachMonitorsLocked gives each monitor a new session on raw, the
// socket's new libzmq socket (after Reset). The caller holds the socket's
// lock.
func (s *Socket) reattachMonitorsLocked(mons []*Monitor, raw *zmq4.Socket) {
	for _, m := range mons {
		m.mu.Lock()
		m.session.stop()
		if sess, err := m.startLocked(raw); err == nil {
			m.session = sess
			m.mu.Unlock()
			continue
		}
		m.closed = true
		close(m.ch)
		m.mu.Unlock()
		delete(s.monitors, m)
	}
}

// stopMonitorsLocked stops every monitor for Close. The caller holds the
// socket's lock; the goroutines are waited for after it is released.
func (s *Socket) stopMonitorsLocked(raw *zmq4.Socket) []*Monitor {
	mons := s.detachMonitorsLocked(raw)
	s.monitors = nil
	return mons
}

// Monitor mirrors pebbe/zmq4: it publishes the socket's events on an
// inproc PAIR endpoint (addr "" stops it). StartMonitor is easier to use.
func (s *Socket) Monitor(addr string, events Event) error {
	return s.call(func(raw *zmq4.Socket) error { return raw.Monitor(addr, events) })
}

// RecvEvent receives one event from a PAIR socket connected to a monitor
// endpoint, waiting like RecvBytes.
func (s *Socket) RecvEvent(flags Flag) (event_type Event, addr string, value int, err error) {
	err = s.recvRaw(flags, func(raw *zmq4.Socket, fl zmq4.Flag) (e error) {
		event_type, addr, value, e = raw.RecvEvent(fl)
		return e
	})
	return event_type, addr, value, err
}
