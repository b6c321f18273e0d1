package zmq

import (
	"errors"
	"fmt"
	"time"
)

// The errors Reactor.Run returns when it has nothing it could wait for.
// Their texts are pebbe/zmq4's.
var (
	//lint:ignore ST1005 pebbe/zmq4's text, kept for code that compares it
	ErrReactorInfinite = errors.New("There are channels, but polling time-out is infinite")
	//lint:ignore ST1005 pebbe/zmq4's text, kept for code that compares it
	ErrReactorEmpty = errors.New("No sockets to poll, no channels to read")
)

// Reactor mixes socket handlers with channel handlers, with pebbe/zmq4's
// method set and loop. Unlike pebbe's, it follows Reset (its sockets are
// polled through a Poller), a handler may remove a socket that is ready in
// the same round, AddChannelTime starts no goroutine, and Run holds the
// context only while it polls, so a handler may call Context.Term (Run then
// returns an error matching net.ErrClosed).
//
// A Reactor is not safe for concurrent use.
type Reactor struct {
	sockets  map[*Socket]*reactorSocket
	poller   *Poller
	channels map[uint64]*reactorChannel
	lastID   uint64
	remove   []uint64
	verbose  bool
}

type reactorSocket struct {
	events  State
	handler func(State) error
}

// reactorChannel is a channel handler; take receives without blocking:
// ok is false when the channel is closed, ready when a value was taken or
// the channel is closed.
type reactorChannel struct {
	take    func() (v interface{}, ok, ready bool)
	limit   int
	handler func(interface{}) error
}

// NewReactor returns an empty reactor.
func NewReactor() *Reactor {
	return &Reactor{
		sockets:  make(map[*Socket]*reactorSocket),
		poller:   NewPoller(),
		channels: make(map[uint64]*reactorChannel),
	}
}

// AddSocket adds a handler for events on soc, replacing an earlier one.
func (r *Reactor) AddSocket(soc *Socket, events State, handler func(State) error) {
	r.RemoveSocket(soc)
	r.sockets[soc] = &reactorSocket{events: events, handler: handler}
	r.poller.Add(soc, events)
}

// RemoveSocket removes the handler of soc.
func (r *Reactor) RemoveSocket(soc *Socket) {
	if _, ok := r.sockets[soc]; ok {
		delete(r.sockets, soc)
		r.poller.RemoveBySocket(soc)
	}
}

// AddChannel adds a handler for values on ch, at most limit per loop
// (limit < 1: no limit), and returns its id. A closed channel is removed.
func (r *Reactor) AddChannel(ch <-chan interface{}, limit int, handler func(interface{}) error) (id uint64) {
	return r.addChannel(takeFrom(ch), limit, handler)
}

// AddChannelTime is AddChannel for a time channel such as time.Tick; the
// handler gets time.Time values.
func (r *Reactor) AddChannelTime(ch <-chan time.Time, limit int, handler func(interface{}) error) (id uint64) {
	return r.addChannel(takeFrom(ch), limit, handler)
}

// takeFrom returns a reactorChannel.take for ch.
func takeFrom[T any](ch <-chan T) func() (interface{}, bool, bool) {
	return func() (interface{}, bool, bool) {
		select {
		case v, ok := <-ch:
			return v, ok, true
		default:
			return nil, false, false
		}
	}
}

func (r *Reactor) addChannel(take func() (interface{}, bool, bool), limit int, handler func(interface{}) error) uint64 {
	r.lastID++
	r.channels[r.lastID] = &reactorChannel{take: take, limit: limit, handler: handler}
	return r.lastID
}

// RemoveChannel removes the channel handler with the given id, from the
// next loop on.
func (r *Reactor) RemoveChannel(id uint64) { r.remove = append(r.remove, id) }

// SetVerbose makes Run print what it does to standard output, as pebbe's
// does.
func (r *Reactor) SetVerbose(verbose bool) { r.verbose = verbose }

// Run runs the reactor until a handler or the poll returns an error:
// each loop drains the channels (up to each one's limit), then polls the
// sockets for up to interval (negative: forever, only without channels) and
// calls the handlers of the ready ones.
func (r *Reactor) Run(interval time.Duration) error {
	for {
		for _, id := range r.remove {
			delete(r.channels, id)
		}
		r.remove = r.remove[:0]
		if err := r.drainChannels(); err != nil {
			return err
		}
		if len(r.channels) > 0 && interval < 0 {
			return ErrReactorInfinite
		}
		if len(r.sockets) == 0 {
			if len(r.channels) == 0 {
				return ErrReactorEmpty
			}
			time.Sleep(interval)
			continue
		}
		polled, err := r.poller.Poll(interval)
		if err != nil {
			return err
		}
		for _, item := range polled {
			s, ok := r.sockets[item.Socket]
			if !ok {
				continue // removed by an earlier handler of this round
			}
			if r.verbose {
				fmt.Printf("Reactor(%p) %v\n", r, item)
			}
			if err := s.handler(item.Events); err != nil {
				return err
			}
		}
	}
}

// drainChannels calls the channel handlers for what their channels hold.
func (r *Reactor) drainChannels() error {
	for id, ch := range r.channels {
		for n := 0; ch.limit < 1 || n < ch.limit; n++ {
			v, ok, ready := ch.take()
			if !ready {
				break
			}
			if !ok {
				if r.verbose {
					fmt.Printf("Reactor(%p) removing closed channel %d\n", r, id)
				}
				r.RemoveChannel(id)
				break
			}
			if r.verbose {
				fmt.Printf("Reactor(%p) channel %d: %v\n", r, id, v)
			}
			if err := ch.handler(v); err != nil {
				return err
			}
		}
	}
	return nil
}
