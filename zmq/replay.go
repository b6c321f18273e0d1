package zmq

import (
	"syscall"
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

type endpointKind uint8

const (
	endpointBind endpointKind = iota
	endpointConnect
)

type endpointEntry struct {
	kind endpointKind
	addr string
}

type optionEntry struct {
	key   string
	apply func(*zmq4.Socket) error
}

// replayLog remembers what was done to a socket so that Reset can do it
// again on a fresh libzmq socket: options in the order they were last set,
// then binds and connects in order. Guarded by the socket's mu.
type replayLog struct {
	options   []optionEntry
	endpoints []endpointEntry
}

// option records an option; setting the same key again replaces it.
func (r *replayLog) option(key string, apply func(*zmq4.Socket) error) {
	r.forgetOption(key)
	r.options = append(r.options, optionEntry{key, apply})
}

func (r *replayLog) forgetOption(key string) {
	for i, o := range r.options {
		if o.key == key {
			r.options = append(r.options[:i], r.options[i+1:]...)
			return
		}
	}
}

func (r *replayLog) endpoint(kind endpointKind, addr string) {
	r.endpoints = append(r.endpoints, endpointEntry{kind, addr})
}

func (r *replayLog) forgetEndpoint(kind endpointKind, addr string) {
	for i, e := range r.endpoints {
		if e.kind == kind && e.addr == addr {
			r.endpoints = append(r.endpoints[:i], r.endpoints[i+1:]...)
			return
		}
	}
}

// apply replays the log on raw. Binds are replayed on the addresses they
// resolved to (Bind records tcp://host:* as the port it got), so a Reset
// socket keeps its port.
func (r *replayLog) apply(raw *zmq4.Socket, linger time.Duration) error {
	if err := raw.SetLinger(linger); err != nil {
		return wrapErr(err)
	}
	for _, o := range r.options {
		if err := o.apply(raw); err != nil {
			return wrapErr(err)
		}
	}
	for _, e := range r.endpoints {
		var err error
		if e.kind == endpointBind {
			err = rebind(raw, e.addr)
		} else {
			err = raw.Connect(e.addr)
		}
		if err != nil {
			return wrapErr(err)
		}
	}
	return nil
}

// rebindTimeout bounds how long Reset waits for an endpoint to be released
// by the libzmq socket it replaced. libzmq closes sockets asynchronously
// (the reaper and I/O threads close listeners and unregister inproc names
// after zmq_close returns), so binding the same address at once can fail
// with EADDRINUSE for a moment.
const rebindTimeout = 2 * time.Second

func rebind(raw *zmq4.Socket, addr string) error {
	deadline := time.Now().Add(rebindTimeout)
	for {
		err := raw.Bind(addr)
		if err == nil || !isErrno(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}
