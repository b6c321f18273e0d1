package zmq

import (
	"fmt"
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

// Polled is a socket with the events that Poll found ready on it.
type Polled struct {
	Socket *Socket // socket with matched event(s)
	Events State   // actual matched event(s)
}

// Poller is pebbe/zmq4's poller over zmqguard sockets. Unlike pebbe's, its
// timeouts are rounded up to whole milliseconds, an EINTR retry keeps the
// original deadline (on sockets of contexts created with NewContext), and
// it follows Reset: a socket reset since it was added is polled as it is
// now. It blocks an OS thread in zmq_poll; to wait on one socket,
// timeout.Wait parks the goroutine instead.
//
// A Poller is not safe for concurrent use.
type Poller struct {
	raw   *zmq4.Poller
	items []pollItem
}

// pollItem is a socket in a Poller, with the libzmq socket raw holds for
// it and the events it waits for.
type pollItem struct {
	soc    *Socket
	raw    *zmq4.Socket
	events State
}

// NewPoller returns an empty poller.
func NewPoller() *Poller { return &Poller{raw: zmq4.NewPoller()} }

// Add adds soc with the events to wait for and returns its id.
func (p *Poller) Add(soc *Socket, events State) int {
	raw := soc.Raw()
	p.items = append(p.items, pollItem{soc: soc, raw: raw, events: events})
	return p.raw.Add(raw, events)
}

// Update changes the events of the socket with the given id.
func (p *Poller) Update(id int, events State) (previous State, err error) {
	previous, err = p.raw.Update(id, events)
	if err != nil {
		return previous, wrapErr(err)
	}
	p.items[id].events = events
	return previous, nil
}

// UpdateBySocket changes the events of soc.
func (p *Poller) UpdateBySocket(soc *Socket, events State) (previous State, err error) {
	for id, it := range p.items {
		if it.soc == soc {
			return p.Update(id, events)
		}
	}
	return 0, ErrorNoSocket
}

// Remove removes the socket with the given id; later ids shift down by one.
func (p *Poller) Remove(id int) error {
	if err := p.raw.Remove(id); err != nil {
		return wrapErr(err)
	}
	p.items = append(p.items[:id], p.items[id+1:]...)
	return nil
}

// RemoveBySocket removes soc.
func (p *Poller) RemoveBySocket(soc *Socket) error {
	for id, it := range p.items {
		if it.soc == soc {
			return p.Remove(id)
		}
	}
	return ErrorNoSocket
}

// follow gives raw the sockets' current libzmq sockets when one was Reset
// since raw was given it.
func (p *Poller) follow() {
	stale := false
	for i := range p.items {
		if r := p.items[i].soc.Raw(); r != p.items[i].raw {
			p.items[i].raw, stale = r, true
		}
	}
	if !stale {
		return
	}
	p.raw = zmq4.NewPoller()
	for _, it := range p.items {
		p.raw.Add(it.raw, it.events)
	}
}

// Poll waits up to timeout (negative: forever) for any socket to be ready
// and returns the ready ones.
func (p *Poller) Poll(timeout time.Duration) ([]Polled, error) { return p.poll(timeout, false) }

// PollAll is Poll returning every socket, ready or not, in the order added.
func (p *Poller) PollAll(timeout time.Duration) ([]Polled, error) { return p.poll(timeout, true) }

func (p *Poller) poll(timeout time.Duration, all bool) ([]Polled, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	p.follow()
	if len(p.items) > 0 {
		// Term must not close the sockets while zmq_poll uses them.
		c := p.items[0].soc.ctx
		if err := c.enter(); err != nil {
			return []Polled{}, err
		}
		defer c.leave()
	}
	for {
		var res []zmq4.Polled
		var err error
		if all {
			res, err = p.raw.PollAll(ceilMillis(timeout))
		} else {
			res, err = p.raw.Poll(ceilMillis(timeout))
		}
		if err == nil {
			return p.translate(res), nil
		}
		if !isIntr(err) || !p.retries() {
			return []Polled{}, wrapErr(err)
		}
		if timeout > 0 {
			if timeout = time.Until(deadline); timeout <= 0 {
				timeout = 0
			}
		}
	}
}

func (p *Poller) retries() bool {
	for _, it := range p.items {
		return it.soc.ctx.retryEINTR.Load()
	}
	return true
}

func (p *Poller) translate(res []zmq4.Polled) []Polled {
	out := make([]Polled, 0, len(res))
	for _, r := range res {
		for _, it := range p.items {
			if it.raw == r.Socket {
				out = append(out, Polled{Socket: it.soc, Events: r.Events})
				break
			}
		}
	}
	return out
}

// String describes the poller.
func (p *Poller) String() string {
	socks := make([]*Socket, len(p.items))
	for i, it := range p.items {
		socks[i] = it.soc
	}
	return fmt.Sprintf("Poller%v", socks)
}
