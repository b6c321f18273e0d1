package reliable

import (
	"errors"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// sendDontwait sends msg on the endpoint's socket without waiting. The
// caller serialises the endpoint's sends (sendMu in correlated mode, the
// turn in plain mode).
//
// libzmq can refuse a message after its first frame: when the connection
// ends between two frames (its peer killed during the send), the pipe the
// first frames went to is gone and the next frame gets EAGAIN. zmq then
// refuses every later send on the socket (zmq.ErrPartialMessage, which
// wraps that EAGAIN) until Reset, so the socket would never send again
// while it reconnects and reports its peer up: every request would wait
// for it to take its message until its deadline. The endpoint therefore
// replaces the socket at once with renew (the frames already queued go
// with the old libzmq socket, LINGER 0), ends the life of the connection
// (the replies owed on the old socket cannot come) and reports EAGAIN with
// renewed true: the attempt goes out once the new socket is connected.
//
// renew is resetSocket in correlated mode, where requests in flight share
// the socket; plain mode opens a new socket, with a routing id of its own.
func (ep *endpoint) sendDontwait(msg [][]byte, renew func() error) (renewed bool, err error) {
	_, err = ep.sock.SendMessageDontwait(msg)
	if !errors.Is(err, zmq.ErrPartialMessage) {
		return false, err
	}
	// Down before the new socket: all its monitor events come after this,
	// so its handshake brings the endpoint up again, and no event of the
	// old socket can take it down after that.
	ep.setUp(false)
	if err := renew(); err != nil {
		return false, err
	}
	return true, zmq.Errno(syscall.EAGAIN)
}

// resetSocket gives the endpoint a fresh libzmq socket under the same
// zmq.Socket (zmq.Socket.Reset: same options and connects, monitor
// included), so the requests sharing it see no change of socket.
func (ep *endpoint) resetSocket() error {
	if err := ep.sock.Reset(); err != nil {
		return err
	}
	if !ep.monitored() {
		ep.setUp(true) // inproc: up as soon as connected
	}
	return nil
}

// socketReset counts and reports the renewal of ep's socket by the send
// of attempt n of request seq (sendDontwait).
func (c *Client) socketReset(seq uint64, n int, ep *endpoint, start time.Time) {
	c.counters.resets.Add(1)
	c.emit(ClientEvent{Kind: EventReset, Seq: seq, Attempt: n, Endpoint: ep.addr, Elapsed: time.Since(start)})
}
