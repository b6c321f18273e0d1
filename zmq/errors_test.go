package zmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// errnoConsts are all Errno constants, with pebbe/zmq4's and the POSIX
// errno where there is one (0 for libzmq's own numbers).
var errnoConsts = []struct {
	name  string
	ours  zmq.Errno
	pebbe zmq4.Errno
	posix syscall.Errno
}{
	{"EADDRINUSE", zmq.EADDRINUSE, zmq4.EADDRINUSE, syscall.EADDRINUSE},
	{"EADDRNOTAVAIL", zmq.EADDRNOTAVAIL, zmq4.EADDRNOTAVAIL, syscall.EADDRNOTAVAIL},
	{"EAFNOSUPPORT", zmq.EAFNOSUPPORT, zmq4.EAFNOSUPPORT, syscall.EAFNOSUPPORT},
	{"ECONNABORTED", zmq.ECONNABORTED, zmq4.ECONNABORTED, syscall.ECONNABORTED},
	{"ECONNREFUSED", zmq.ECONNREFUSED, zmq4.ECONNREFUSED, syscall.ECONNREFUSED},
	{"ECONNRESET", zmq.ECONNRESET, zmq4.ECONNRESET, syscall.ECONNRESET},
	{"EHOSTUNREACH", zmq.EHOSTUNREACH, zmq4.EHOSTUNREACH, syscall.EHOSTUNREACH},
	{"EINPROGRESS", zmq.EINPROGRESS, zmq4.EINPROGRESS, syscall.EINPROGRESS},
	{"EMSGSIZE", zmq.EMSGSIZE, zmq4.EMSGSIZE, syscall.EMSGSIZE},
	{"ENETDOWN", zmq.ENETDOWN, zmq4.ENETDOWN, syscall.ENETDOWN},
	{"ENETRESET", zmq.ENETRESET, zmq4.ENETRESET, syscall.ENETRESET},
	{"ENETUNREACH", zmq.ENETUNREACH, zmq4.ENETUNREACH, syscall.ENETUNREACH},
	{"ENOBUFS", zmq.ENOBUFS, zmq4.ENOBUFS, syscall.ENOBUFS},
	{"ENOTCONN", zmq.ENOTCONN, zmq4.ENOTCONN, syscall.ENOTCONN},
	{"ENOTSOCK", zmq.ENOTSOCK, zmq4.ENOTSOCK, syscall.ENOTSOCK},
	{"ENOTSUP", zmq.ENOTSUP, zmq4.ENOTSUP, syscall.ENOTSUP},
	{"EPROTONOSUPPORT", zmq.EPROTONOSUPPORT, zmq4.EPROTONOSUPPORT, syscall.EPROTONOSUPPORT},
	{"ETIMEDOUT", zmq.ETIMEDOUT, zmq4.ETIMEDOUT, syscall.ETIMEDOUT},
	{"EFSM", zmq.EFSM, zmq4.EFSM, 0},
	{"EMTHREAD", zmq.EMTHREAD, zmq4.EMTHREAD, 0},
	{"ENOCOMPATPROTO", zmq.ENOCOMPATPROTO, zmq4.ENOCOMPATPROTO, 0},
	{"ETERM", zmq.ETERM, zmq4.ETERM, 0},
}

func TestErrnoConstantsMatchSyscallErrno(t *testing.T) {
	for _, c := range errnoConsts {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, uintptr(c.pebbe), uintptr(c.ours), "same number as pebbe/zmq4")
			se := syscall.Errno(c.ours)
			if c.posix != 0 {
				assert.Equal(t, c.posix, se, "same number as the POSIX errno")
			}
			var err error = c.ours
			wrapped := fmt.Errorf("op: %w", err)
			assert.ErrorIs(t, err, se)
			assert.ErrorIs(t, wrapped, se, "matches through wrapping")
			assert.ErrorIs(t, wrapped, c.ours)
			assert.NotErrorIs(t, err, syscall.Errno(c.ours+1))
			assert.Equal(t, c.ours, zmq.AsErrno(wrapped))
			assert.Equal(t, c.ours, zmq.AsErrno(se), "AsErrno takes a syscall.Errno")
			assert.Equal(t, c.ours, zmq.AsErrno(c.pebbe), "AsErrno takes a pebbe Errno")
			assert.True(t, strings.HasPrefix(err.Error(), "zmq: "), err.Error())
			assert.Equal(t, "zmq: "+c.pebbe.Error(), err.Error(), "pebbe's text after the prefix")
			assert.Equal(t, c.ours == zmq.ETERM, errors.Is(err, net.ErrClosed), "only ETERM means closed")
		})
	}
	assert.Equal(t, zmq.Errno(0), zmq.AsErrno(errors.New("x")))
	assert.Equal(t, zmq.Errno(0), zmq.AsErrno(nil))
	assert.True(t, zmq.Errno(syscall.EAGAIN).Timeout())
	assert.False(t, zmq.EFSM.Timeout())
}

func TestErrnoFromLibzmq(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.PULL)
	err := s.Bind("nosuch://x")
	assert.ErrorIs(t, err, syscall.EPROTONOSUPPORT)
	assert.Equal(t, zmq.EPROTONOSUPPORT, zmq.AsErrno(err))

	ep := zmqtest.Bind(t, s, "tcp")
	other := zmqtest.Socket(t, c, zmq.PULL)
	err = other.Bind(ep)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.ErrorIs(t, err, zmq.EADDRINUSE)
	assert.True(t, strings.HasPrefix(err.Error(), "zmq: "), err.Error())

	// Well-formed for zmqguard's own endpoint check, refused by libzmq's
	// (a space in the host).
	err = other.Connect("tcp://bad host:5555")
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.Equal(t, zmq.Errno(syscall.EINVAL), zmq.AsErrno(err))
	assert.NotErrorIs(t, err, zmq.ErrInvalidEndpoint)
}

func TestEFSMFromREQSendingTwice(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		_, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
		_, err := req.Send("one", 0)
		require.NoError(t, err)
		_, err = req.Send("two", 0)
		require.Error(t, err)
		assert.ErrorIs(t, err, zmq.EFSM)
		assert.ErrorIs(t, err, syscall.Errno(zmq4.EFSM))
		assert.Equal(t, zmq.EFSM, zmq.AsErrno(err))
		assert.Equal(t, zmq.EFSM, err, "a plain Errno, as in pebbe/zmq4")
		assert.NotErrorIs(t, err, net.ErrClosed)
		assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, "zmq: "+zmq4.EFSM.Error(), err.Error())

		_, err = req.SendMessage("three", "parts")
		assert.ErrorIs(t, err, zmq.EFSM, "refused at the first frame")
		assert.NotErrorIs(t, err, zmq.ErrPartialMessage, "nothing was queued, the socket is not broken")
	})
}

func TestETERMMatchesErrClosed(t *testing.T) {
	assert.ErrorIs(t, zmq.ETERM, net.ErrClosed)
	assert.ErrorIs(t, fmt.Errorf("wrapped: %w", zmq.ETERM), net.ErrClosed)

	// A real ETERM, from libzmq: a socket created through Raw (which
	// zmqguard does not track) is blocked in a receive inside libzmq when
	// the context is terminated. It is closed once the receive returns, so
	// that Term can finish.
	c, err := zmq.NewContext(zmq.WithTermTimeout(5 * time.Second))
	require.NoError(t, err)
	raw, err := c.Raw().NewSocket(zmq4.PULL)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := raw.RecvBytes(0)
		raw.Close()
		done <- err
	}()
	require.NoError(t, c.Term())
	err = <-done
	assert.Equal(t, zmq4.ETERM, err, "pebbe/zmq4's own error")
	assert.Equal(t, zmq.ETERM, zmq.AsErrno(err), "AsErrno converts it")
	assert.ErrorIs(t, zmq.AsErrno(err), net.ErrClosed)

	// zmqguard's blocking calls that run inside libzmq (Proxy) return it too.
	c = zmqtest.Context(t)
	front, back := zmqtest.Socket(t, c, zmq.PULL), zmqtest.Socket(t, c, zmq.PUSH)
	in := zmqtest.Socket(t, c, zmq.PUSH)
	require.NoError(t, in.Connect(zmqtest.Bind(t, front, "inproc")))
	out := zmqtest.Socket(t, c, zmq.PULL)
	require.NoError(t, out.Connect(zmqtest.Bind(t, back, "inproc")))
	proxied := make(chan error, 1)
	go func() { proxied <- zmq.Proxy(front, back, nil) }()
	// One message through proves the proxy is running inside libzmq.
	_, err = in.Send("through", 0)
	require.NoError(t, err)
	require.NoError(t, out.SetRcvtimeo(5*time.Second))
	got, err := out.Recv(0)
	require.NoError(t, err)
	require.Equal(t, "through", got)
	require.NoError(t, c.Term())
	select {
	case err := <-proxied:
		assert.ErrorIs(t, err, zmq.ETERM)
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Term did not end Proxy")
	}
}

func assertTimeout(t *testing.T, err error, op string) {
	t.Helper()
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	var te *zmq.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, op, te.Op)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.True(t, os.IsTimeout(err))
	assert.ErrorIs(t, err, syscall.EAGAIN, "pebbe/zmq4 code checks EAGAIN")
	assert.ErrorIs(t, err, zmq.Errno(syscall.EAGAIN))
	assert.Equal(t, zmq.Errno(syscall.EAGAIN), zmq.AsErrno(err))
	assert.NotErrorIs(t, err, net.ErrClosed)
	assert.True(t, strings.HasPrefix(err.Error(), "zmq: "+op+": "), err.Error())
}

func TestTimeoutErrors(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull := zmqtest.Socket(t, c, zmq.PULL)
		zmqtest.Bind(t, pull, tr)
		push := zmqtest.Socket(t, c, zmq.PUSH) // no peer: sends block

		require.NoError(t, pull.SetRcvtimeo(20*time.Millisecond))
		_, err := pull.Recv(0)
		assertTimeout(t, err, "recv")
		_, err = pull.RecvMessageBytes(0)
		assertTimeout(t, err, "recv")
		_, _, _, err = pull.RecvEvent(0)
		assertTimeout(t, err, "recv")

		require.NoError(t, push.SetSndtimeo(20*time.Millisecond))
		_, err = push.Send("x", 0)
		assertTimeout(t, err, "send")
		_, err = push.SendMessage("a", "b")
		assertTimeout(t, err, "send")

		// Without a timeout, DONTWAIT still reports a plain EAGAIN, as
		// libzmq and pebbe/zmq4 do: nothing timed out.
		_, err = pull.Recv(zmq.DONTWAIT)
		assert.Equal(t, zmq.Errno(syscall.EAGAIN), err)
		assert.ErrorIs(t, err, syscall.EAGAIN)

		// A context deadline (package timeout's calls): a timeout that
		// also matches the context's error.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err = timeout.RecvBytes(ctx, pull)
		assertTimeout(t, err, "recv")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// Done already: returns at once, same error.
		_, err = timeout.RecvBytes(ctx, pull)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		err = timeout.Send(ctx, push, "x")
		assertTimeout(t, err, "send")
		assert.ErrorIs(t, err, context.DeadlineExceeded)

		// Cancellation is not a timeout.
		cctx, ccancel := context.WithCancel(context.Background())
		ccancel()
		_, err = timeout.Recv(cctx, pull)
		assert.ErrorIs(t, err, context.Canceled)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.False(t, ne.Timeout())
		assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.ErrorIs(t, err, syscall.EAGAIN, "pebbe-style loops still see EAGAIN")
	})
}

func TestClosedSocketMatchesErrClosed(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.DEALER)
	require.NoError(t, s.Close())
	checks := map[string]error{}
	_, checks["Send"] = s.Send("x", 0)
	_, checks["SendBytes"] = s.SendBytes(nil, zmq.DONTWAIT)
	_, checks["SendMessage"] = s.SendMessage("a", "b")
	_, checks["Recv"] = s.Recv(0)
	_, checks["RecvMessage"] = s.RecvMessage(zmq.DONTWAIT)
	_, checks["RecvBytes"] = s.RecvBytes(0)
	_, checks["RecvMessageBytes"] = s.RecvMessageBytes(0)
	_, checks["SendMessageDontwait"] = s.SendMessageDontwait("a")
	_, checks["timeout.RecvBytes"] = timeout.RecvBytes(context.Background(), s)
	_, checks["timeout.Wait"] = timeout.Wait(context.Background(), s, zmq.POLLIN)
	checks["SetLinger"] = s.SetLinger(0)
	_, checks["GetLinger"] = s.GetLinger()
	_, checks["GetRcvtimeo"] = s.GetRcvtimeo()
	_, checks["GetSndtimeo"] = s.GetSndtimeo()
	checks["SetRcvtimeo"] = s.SetRcvtimeo(time.Second)
	_, checks["Context"] = s.Context()
	checks["Reset"] = s.Reset()
	_, checks["StartMonitor"] = s.StartMonitor(zmq.EVENT_ALL)
	for name, err := range checks {
		assert.ErrorIs(t, err, net.ErrClosed, name)
		assert.Equal(t, zmq.ErrorSocketClosed, err, name)
		assert.EqualError(t, err, "zmq: socket is closed", name)
	}
	// Endpoint operations wrap it in an *EndpointError naming the
	// endpoint.
	for op, err := range map[string]error{
		"bind":    s.Bind("inproc://closed"),
		"connect": s.Connect("inproc://closed"),
	} {
		assert.ErrorIs(t, err, net.ErrClosed, op)
		assert.ErrorIs(t, err, zmq.ErrorSocketClosed, op)
		var ee *zmq.EndpointError
		if assert.ErrorAs(t, err, &ee, op) {
			assert.Equal(t, op, ee.Op)
			assert.Equal(t, "inproc://closed", ee.Endpoint)
		}
		assert.EqualError(t, err, "zmq: "+op+` "inproc://closed": socket is closed`, op)
	}
	assert.Equal(t, "Socket(CLOSED)", s.String())
}

func TestTerminatedContextMatchesErrClosed(t *testing.T) {
	c, err := zmq.NewContext(zmq.WithTermTimeout(5 * time.Second))
	require.NoError(t, err)
	s, err := c.NewSocket(zmq.PULL)
	require.NoError(t, err)
	require.NoError(t, c.Term())

	_, err = c.NewSocket(zmq.PUSH)
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.Equal(t, zmq.ErrorContextClosed, err)
	assert.EqualError(t, err, "zmq: context is closed")
	_, err = c.GetIoThreads()
	assert.ErrorIs(t, err, net.ErrClosed)

	// Term closed the socket.
	_, err = s.Recv(0)
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.NoError(t, s.Close())
}

// TestErrorMessagesArePrefixed checks the text of every error zmqguard
// defines. (ErrorNotImplemented* are pebbe/zmq4's own values, kept so that
// comparisons with them keep working; libzmq 4.3 never produces them.)
func TestErrorMessagesArePrefixed(t *testing.T) {
	_, optErr := zmq.NewContext(zmq.WithTermTimeout(0))
	require.Error(t, optErr)
	var oe *zmq.OptionError
	require.ErrorAs(t, optErr, &oe)
	errs := []error{
		zmq.ErrorSocketClosed, zmq.ErrorContextClosed, zmq.ErrorMoreExpected, zmq.ErrorNoSocket,
		zmq.ErrPartialMessage, zmq.ErrInvalidMessage, zmq.ErrTermTimeout, zmq.ErrMonitorActive,
		&zmq.PartialMessageError{Sent: 1, Frames: 3, Err: zmq.Errno(syscall.EAGAIN)},
		&zmq.TimeoutError{Op: "recv"},
		&zmq.TimeoutError{Op: "send", Cause: context.Canceled},
		zmq.Errno(syscall.EINTR), zmq.EFSM, optErr,
	}
	for _, err := range errs {
		assert.True(t, strings.HasPrefix(err.Error(), "zmq: "), "%q", err.Error())
		assert.False(t, strings.HasPrefix(err.Error(), "zmq: zmq: "), "%q", err.Error())
	}
}
