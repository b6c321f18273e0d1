package timeout_test

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestNewOptions(t *testing.T) {
	c := zmqtest.Context(t)
	for _, tc := range []struct {
		name     string
		opts     []timeout.Option
		rcv, snd time.Duration
	}{
		{"none keeps the socket's", nil, -1, -1},
		{"positive", []timeout.Option{timeout.WithRecvTimeout(1500 * time.Microsecond), timeout.WithSendTimeout(time.Second)}, 1500 * time.Microsecond, time.Second},
		{"zero means none", []timeout.Option{timeout.WithRecvTimeout(0), timeout.WithSendTimeout(0)}, -1, -1},
		{"-1 means none", []timeout.Option{timeout.WithRecvTimeout(-1), timeout.WithSendTimeout(-1)}, -1, -1},
		{"last wins", []timeout.Option{timeout.WithRecvTimeout(time.Second), timeout.WithRecvTimeout(2 * time.Second)}, 2 * time.Second, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := timeout.New(zmqtest.Socket(t, c, zmq.PULL), tc.opts...)
			require.NoError(t, err)
			rcv, err := s.GetRcvtimeo()
			require.NoError(t, err)
			snd, err := s.GetSndtimeo()
			require.NoError(t, err)
			assert.Equal(t, tc.rcv, rcv)
			assert.Equal(t, tc.snd, snd)
		})
	}

	t.Run("keeps a timeout set on the socket", func(t *testing.T) {
		zs := zmqtest.Socket(t, c, zmq.PULL)
		require.NoError(t, zs.SetRcvtimeo(time.Second))
		s, err := timeout.New(zs, timeout.WithSendTimeout(time.Minute))
		require.NoError(t, err)
		rcv, _ := s.GetRcvtimeo()
		assert.Equal(t, time.Second, rcv)
	})

	t.Run("invalid", func(t *testing.T) {
		for _, o := range []timeout.Option{timeout.WithRecvTimeout(-2), timeout.WithSendTimeout(-time.Second)} {
			zs := zmqtest.Socket(t, c, zmq.PULL)
			s, err := timeout.New(zs, o)
			assert.Nil(t, s)
			var oe *zmq.OptionError
			require.True(t, errors.As(err, &oe), "%v", err)
			rcv, _ := zs.GetRcvtimeo()
			assert.Equal(t, time.Duration(-1), rcv, "a refused option changes nothing")
		}
		_, err := timeout.New(nil)
		var oe *zmq.OptionError
		assert.True(t, errors.As(err, &oe))
	})

	t.Run("closed socket", func(t *testing.T) {
		zs := zmqtest.Socket(t, c, zmq.PULL)
		require.NoError(t, zs.Close())
		_, err := timeout.New(zs)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

// The defaults are the socket's own timeouts: one setting, kept by Reset.
func TestDefaultsAreTheSocketsTimeouts(t *testing.T) {
	c := zmqtest.Context(t)
	s, err := timeout.New(zmqtest.Socket(t, c, zmq.PULL), timeout.WithRecvTimeout(time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.SetRcvtimeo(40*time.Millisecond))
	require.NoError(t, s.Reset())
	start := time.Now()
	_, err = s.RecvBytes(0)
	assertWithin(t, time.Since(start), 40*time.Millisecond)
	assert.ErrorIs(t, err, zmq.Errno(11)) // EAGAIN, as pebbe/zmq4 reports a timeout
}

// A *timeout.Socket keeps the method set of a *zmq.Socket, and with it of a
// pebbe/zmq4 socket: every method exists with the same signature.
func TestSocketKeepsMethodSet(t *testing.T) {
	ts := reflect.TypeOf(&timeout.Socket{})
	for _, typ := range []reflect.Type{reflect.TypeOf(&zmq.Socket{})} {
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			got, ok := ts.MethodByName(m.Name)
			if assert.True(t, ok, "missing %s", m.Name) {
				assert.Equal(t, m.Type.String()[len("func(*zmq.Socket"):], got.Type.String()[len("func(*timeout.Socket"):], m.Name)
			}
		}
	}
	// And by name, every method of pebbe's socket.
	pebbe := reflect.TypeOf(&zmq4.Socket{})
	for i := range pebbe.NumMethod() {
		name := pebbe.Method(i).Name
		_, ok := ts.MethodByName(name)
		assert.True(t, ok, "missing pebbe/zmq4 method %s", name)
	}
}

// Code written against pebbe/zmq4 runs unchanged on a *timeout.Socket.
func TestSocketAsDropIn(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		zrep, zreq := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
		rep, err := timeout.New(zrep, timeout.WithRecvTimeout(5*time.Second), timeout.WithSendTimeout(5*time.Second))
		require.NoError(t, err)
		req, err := timeout.New(zreq, timeout.WithRecvTimeout(5*time.Second), timeout.WithSendTimeout(5*time.Second))
		require.NoError(t, err)
		done := returnsOf(func() error {
			for range 50 {
				m, err := rep.RecvMessage(0)
				if err != nil {
					return err
				}
				if _, err := rep.SendMessage(m, "ok"); err != nil {
					return err
				}
			}
			return nil
		})
		for i := range 50 {
			_, err := req.SendMessage("hello", i)
			require.NoError(t, err)
			m, err := req.RecvMessage(0)
			require.NoError(t, err)
			require.Equal(t, []string{"hello", fmt.Sprint(i), "ok"}, m)
		}
		require.NoError(t, await(t, done).err)
		_, err = req.Send("x", 0)
		require.NoError(t, err)
		b, err := rep.RecvBytes(0)
		require.NoError(t, err)
		assert.Equal(t, "x", string(b))
		_, err = rep.SendBytes([]byte("y"), 0)
		require.NoError(t, err)
		str, err := req.Recv(0)
		require.NoError(t, err)
		assert.Equal(t, "y", str)
		_, err = req.SendMessageDontwait("z")
		require.NoError(t, err)
		mb, err := rep.RecvMessageBytes(0)
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("z")}, mb)
		require.NoError(t, req.Close())
		require.NoError(t, req.Close())
		_, err = req.Recv(0)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}
