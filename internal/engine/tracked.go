package engine

import (
	"context"
	"os"
	"runtime"
	"sync"

	zmq4 "github.com/pebbe/zmq4"
)

// Tracker follows a send without a copy: its buffer belongs to libzmq
// until Done is closed, and must not be changed before.
type Tracker struct {
	done chan struct{}
	pin  runtime.Pinner
}

// completed is the Tracker of a send that copied (or never started): done
// from the start.
var completed = func() *Tracker {
	t := &Tracker{done: make(chan struct{})}
	close(t.done)
	return t
}()

// Done is closed once libzmq no longer uses the buffer: the frame was
// written to the wire, delivered, or dropped (by Close, Term, linger).
func (t *Tracker) Done() <-chan struct{} { return t.done }

// Wait blocks until Done is closed or ctx ends, and returns ctx's error
// in that case.
func (t *Tracker) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	default:
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pins are the sends without a copy in flight in this process. libzmq
// reports each completion from its own thread through C (zg_pin_done),
// which runs no Go code: it pushes onto a lock-free list and writes an
// eventfd. A drainer goroutine, running only while sends are in flight,
// waits for that eventfd in the netpoller, unpins the buffers and closes
// the Trackers.
var pins struct {
	mu      sync.Mutex
	next    uintptr
	live    map[uintptr]*Tracker
	pending int // SendPinned calls between pinsStart and their outcome
	running bool
	efd     *os.File
	toks    []uintptr
}

// SendPinned sends b as one frame within lim without copying it, unless it
// is under the socket's pin threshold (then libzmq copies it and the
// Tracker is done at once). b stays pinned, and must not change, until the Tracker is
// done.
func (s *Socket) SendPinned(lim *Limit, b []byte, flags zmq4.Flag) (*Tracker, error) {
	if len(b) < s.PinBelow() || !s.Direct() {
		return completed, s.SendFrame(lim, "", b, false, flags)
	}
	if err := pinsStart(); err != nil {
		return nil, err
	}
	defer pinsSettled()
	t := &Tracker{done: make(chan struct{})}
	t.pin.Pin(&b[0])
	var tok uintptr
	err := s.sendLoop(lim, flags, func(f zmq4.Flag) error {
		pins.mu.Lock()
		pins.next++
		tok = pins.next
		pins.live[tok] = t
		pins.mu.Unlock()
		err := s.seam.sendPinned(b, tok, f)
		if err != nil {
			// libzmq has already released the message (token 0).
			pins.mu.Lock()
			delete(pins.live, tok)
			pinsDrainLocked()
			pins.mu.Unlock()
		}
		return err
	})
	if err != nil {
		t.pin.Unpin()
		return nil, err
	}
	return t, nil
}

// pinsSettled ends a SendPinned call; when it leaves nothing in flight it
// wakes the drainer, so that it returns.
func pinsSettled() {
	pins.mu.Lock()
	defer pins.mu.Unlock()
	pins.pending--
	if pins.pending == 0 && len(pins.live) == 0 && pins.running {
		one := [8]byte{1}
		pins.efd.Write(one[:])
	}
}

// pinsStart creates the eventfd and the table on first use, counts a
// SendPinned call in, and starts the drainer unless it runs.
func pinsStart() error {
	pins.mu.Lock()
	defer pins.mu.Unlock()
	if pins.efd == nil {
		fd, err := pinsInit()
		if err != nil {
			return os.NewSyscallError("eventfd", err)
		}
		// Non-blocking, so os.File waits for it in the netpoller. It is
		// never closed: C code may write it at any time.
		pins.efd = os.NewFile(uintptr(fd), "zmqguard-pins")
		pins.live = make(map[uintptr]*Tracker)
	}
	pins.pending++
	if !pins.running {
		pins.running = true
		go pinsDrain()
	}
	return nil
}

// pinsDrain completes Trackers as libzmq reports them, and returns once
// none is in flight.
func pinsDrain() {
	var b [8]byte
	for {
		pins.mu.Lock()
		pinsDrainLocked()
		if len(pins.live) == 0 && pins.pending == 0 {
			pins.running = false
			pins.mu.Unlock()
			return
		}
		pins.mu.Unlock()
		// Read (reset) the eventfd before taking the list: a completion
		// pushed after the take writes it again.
		pins.efd.Read(b[:])
	}
}

// pinsDrainLocked completes every reported send. pins.mu is held.
func pinsDrainLocked() {
	pins.toks = pinsTake(pins.toks[:0])
	for _, tok := range pins.toks {
		if t, ok := pins.live[tok]; ok {
			delete(pins.live, tok)
			t.pin.Unpin()
			close(t.done)
		}
	}
}
