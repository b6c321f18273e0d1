package zmq

import (
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

// Reactor is pebbe/zmq4's reactor over zmqguard sockets: it mixes socket
// handlers with channel handlers. It is not safe for concurrent use.
type Reactor struct {
	raw *zmq4.Reactor
	ctx *Context // of the first socket added; see Context.enter
}

// NewReactor returns an empty reactor.
func NewReactor() *Reactor { return &Reactor{raw: zmq4.NewReactor()} }

// AddSocket adds a handler for events on soc, replacing an earlier one.
func (r *Reactor) AddSocket(soc *Socket, events State, handler func(State) error) {
	if r.ctx == nil {
		r.ctx = soc.ctx
	}
	r.raw.AddSocket(soc.Raw(), events, handler)
}

// RemoveSocket removes the handler of soc.
func (r *Reactor) RemoveSocket(soc *Socket) { r.raw.RemoveSocket(soc.Raw()) }

// AddChannel adds a handler for values on ch, at most limit per loop
// (limit < 1: no limit), and returns its id.
func (r *Reactor) AddChannel(ch <-chan interface{}, limit int, handler func(interface{}) error) (id uint64) {
	return r.raw.AddChannel(ch, limit, handler)
}

// AddChannelTime is AddChannel for a time channel such as time.Tick.
func (r *Reactor) AddChannelTime(ch <-chan time.Time, limit int, handler func(interface{}) error) (id uint64) {
	return r.raw.AddChannelTime(ch, limit, handler)
}

// RemoveChannel removes the channel handler with the given id.
func (r *Reactor) RemoveChannel(id uint64) { r.raw.RemoveChannel(id) }

// SetVerbose makes Run log what it does.
func (r *Reactor) SetVerbose(verbose bool) { r.raw.SetVerbose(verbose) }

// Run runs the reactor until a handler returns an error, polling channels
// at least every interval.
func (r *Reactor) Run(interval time.Duration) (err error) {
	if r.ctx != nil {
		// Term must not close the sockets while zmq_poll uses them.
		if err := r.ctx.enter(); err != nil {
			return err
		}
		defer r.ctx.leave()
	}
	return wrapErr(r.raw.Run(interval))
}
