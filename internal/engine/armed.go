package engine

import zmq4 "github.com/pebbe/zmq4"

// armedRecv is a receive tried inside an armed wait. A wait on ZMQ_FD must
// look at the socket once the netpoller is armed, or an edge arriving just
// before would be lost; that look is normally a read of ZMQ_EVENTS after a
// receive that found nothing. When a receive is expected to wait, the look
// can be the receive itself: libzmq processes its pending commands in both.
type armedRecv struct {
	on    bool
	flags zmq4.Flag
	k     sink // where the frame goes, and the outcome of the try
	got   bool // the try got a frame
}

// try receives once without blocking; it runs as the wait's first look,
// with s.mu held. It reports whether the wait is over (a frame, or an
// error in s.waitErr).
func (a *armedRecv) try(s *Socket) bool {
	for {
		err := s.seam.recvTo(&a.k, a.flags|zmq4.DONTWAIT)
		switch {
		case err == nil:
			a.got = true
			return true
		case isIntr(err) && s.retryEINTR.Load():
			continue
		case isAgain(err):
			return false
		}
		s.waitErr = errno(err)
		return true
	}
}

// awaitRecv is await with the receive into k as its first look. got
// reports a frame received without parking; otherwise the caller tries
// again, as after await.
func (s *Socket) awaitRecv(lim *Limit, flags zmq4.Flag, k *sink) (got bool, err error) {
	s.armed = armedRecv{on: true, flags: flags, k: *k}
	err = s.await(lim, zmq4.POLLIN, "recv")
	a := s.armed
	s.armed = armedRecv{}
	*k = a.k
	if a.got {
		return true, nil
	}
	if err != nil {
		return false, s.closedOr(err)
	}
	return false, nil
}
