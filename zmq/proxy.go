package zmq

import zmq4 "github.com/pebbe/zmq4"

func rawOf(s *Socket) *zmq4.Socket {
	if s == nil {
		return nil
	}
	return s.Raw()
}

// Proxy runs libzmq's built-in proxy between frontend and backend (and
// capture, which may be nil). It blocks an OS thread until the context is
// terminated, then returns an error matching net.ErrClosed (ETERM).
func Proxy(frontend, backend, capture *Socket) error {
	if err := enterLibzmq(frontend, backend); err != nil {
		return err
	}
	defer frontend.ctx.leave()
	return wrapErr(zmq4.Proxy(rawOf(frontend), rawOf(backend), rawOf(capture)))
}

// ProxySteerable is Proxy controlled through control (which may be nil):
// send it PAUSE, RESUME or TERMINATE.
func ProxySteerable(frontend, backend, capture, control *Socket) error {
	if err := enterLibzmq(frontend, backend); err != nil {
		return err
	}
	defer frontend.ctx.leave()
	return wrapErr(zmq4.ProxySteerable(rawOf(frontend), rawOf(backend), rawOf(capture), rawOf(control)))
}

// enterLibzmq registers a proxy with its context (see Context.enter), so
// that Term does not close the sockets under it.
func enterLibzmq(frontend, backend *Socket) error {
	if frontend == nil || backend == nil {
		return ErrorNoSocket
	}
	return frontend.ctx.enter()
}
