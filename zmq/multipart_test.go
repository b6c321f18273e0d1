package zmq_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// requireNothingQueued checks that pull has no message waiting. libzmq
// delivers a message only when its last frame is queued, so once a later,
// complete message has been received this also proves nothing was glued
// in front of it.
func requireNothingQueued(t *testing.T, pull *zmq.Socket) {
	t.Helper()
	msg, err := pull.RecvMessage(zmq.DONTWAIT)
	require.ErrorIs(t, err, syscall.EAGAIN, "unexpected message %q", msg)
}

// recvWithin receives one whole message within d.
func recvWithin(t *testing.T, s *zmq.Socket, d time.Duration) []string {
	t.Helper()
	require.NoError(t, s.SetRcvtimeo(d))
	msg, err := s.RecvMessage(0)
	require.NoError(t, err)
	return msg
}

func TestPartialMultipartBreaksSocketUntilReset(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)

		// A whole message first: the connection is up.
		_, err := push.SendMessage("before")
		require.NoError(t, err)
		assert.Equal(t, []string{"before"}, recvWithin(t, pull, 5*time.Second))

		injected := errors.New("injected fault")
		var asked []int
		zmq.SetSendFault(push, func(frame int) error {
			asked = append(asked, frame)
			if frame == 2 {
				return injected
			}
			return nil
		})
		n, err := push.SendMessage("f0", []byte("f1"), []string{"f2", "f3"})
		assert.Equal(t, -1, n)
		require.ErrorIs(t, err, zmq.ErrPartialMessage)
		require.ErrorIs(t, err, injected, "wraps the cause")
		var pe *zmq.PartialMessageError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 2, pe.Sent, "frames 0 and 1 were queued")
		assert.Equal(t, 4, pe.Frames)
		assert.Equal(t, []int{0, 1, 2}, asked, "stopped at the failing frame")
		zmq.SetSendFault(push, nil)

		// The socket refuses every further send until Reset.
		_, err = push.SendMessage("next", "message")
		assert.ErrorIs(t, err, zmq.ErrPartialMessage)
		_, err = push.Send("next", 0)
		assert.ErrorIs(t, err, zmq.ErrPartialMessage)
		_, err = push.SendBytes([]byte("next"), zmq.DONTWAIT)
		assert.ErrorIs(t, err, zmq.ErrPartialMessage)
		_, err = push.SendMessageDontwait("next")
		assert.ErrorIs(t, err, zmq.ErrPartialMessage)
		requireNothingQueued(t, pull)

		// After Reset the socket sends normally, and the receiver gets
		// exactly the next whole message: the two orphaned frames were
		// dropped with the old libzmq socket, not glued onto it.
		require.NoError(t, push.Reset())
		_, err = push.SendMessage("m0", "m1", "m2", "m3")
		require.NoError(t, err)
		assert.Equal(t, []string{"m0", "m1", "m2", "m3"}, recvWithin(t, pull, 5*time.Second))
		_, err = push.Send("last", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"last"}, recvWithin(t, pull, 5*time.Second))
		requireNothingQueued(t, pull)
	})
}

// TestFaultOnFirstFrameLeavesSocketUsable: nothing was queued, so the
// socket is not broken.
func TestFaultOnFirstFrameLeavesSocketUsable(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	zmq.SetSendFault(push, func(frame int) error { return zmq.Errno(syscall.EAGAIN) })
	_, err := push.SendMessage("a", "b")
	require.ErrorIs(t, err, syscall.EAGAIN)
	assert.NotErrorIs(t, err, zmq.ErrPartialMessage)
	zmq.SetSendFault(push, nil)
	_, err = push.SendMessage("c", "d")
	require.NoError(t, err)
	assert.Equal(t, []string{"c", "d"}, recvWithin(t, pull, 5*time.Second))
}

// TestHWMRefusesWholeMessages: libzmq can only refuse a message at its
// first frame, so a refused message leaves nothing behind.
func TestHWMRefusesWholeMessages(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		push := zmqtest.Socket(t, c, zmq.PUSH)

		// No pipe at all: refused at once.
		_, err := push.SendMessageDontwait("a", "b", "c", "d")
		require.ErrorIs(t, err, syscall.EAGAIN)
		assert.NotErrorIs(t, err, zmq.ErrPartialMessage)

		// A pipe to a peer that is not there yet, filled to its HWM.
		require.NoError(t, push.SetSndhwm(1))
		require.NoError(t, push.SetRcvhwm(1))
		ep := freeEndpoint(t, tr)
		require.NoError(t, push.Connect(ep))
		queued := 0
		for ; queued < 100000; queued++ {
			_, err = push.SendMessageDontwait("m", fmt.Sprint(queued), "x", "y")
			if err != nil {
				break
			}
		}
		require.ErrorIs(t, err, syscall.EAGAIN, "HWM reached after %d messages", queued)
		assert.NotErrorIs(t, err, zmq.ErrPartialMessage, "refused at the first frame")
		require.Positive(t, queued)

		// The peer appears: it gets the queued messages whole, then the
		// next one, and no fragment of the refused one.
		pull := zmqtest.Socket(t, c, zmq.PULL)
		require.NoError(t, pull.Bind(ep))
		for i := range queued {
			assert.Equal(t, []string{"m", fmt.Sprint(i), "x", "y"}, recvWithin(t, pull, 5*time.Second))
		}
		_, err = push.SendMessage("after")
		require.NoError(t, err)
		assert.Equal(t, []string{"after"}, recvWithin(t, pull, 5*time.Second))
		requireNothingQueued(t, pull)
	})
}

func TestInvalidPartsRejectedBeforeSending(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	sent := 0
	zmq.SetSendFault(push, func(int) error { sent++; return nil })
	var nilSlice []byte
	for name, parts := range map[string][]interface{}{
		"nil last":    {"a", "b", nil},
		"nil first":   {nil, "a"},
		"func":        {"a", func() {}},
		"chan":        {"a", make(chan int)},
		"no parts":    {},
		"empty lists": {[]string{}, [][]byte{}},
	} {
		n, err := push.SendMessage(parts...)
		assert.Equal(t, -1, n, name)
		assert.ErrorIs(t, err, zmq.ErrInvalidMessage, name)
		assert.NotErrorIs(t, err, zmq.ErrPartialMessage, name)
	}
	assert.Zero(t, sent, "no frame was attempted")
	// A nil []byte is an empty frame, not an invalid part.
	_, err := push.SendMessage("x", nilSlice, 7, 1.5, true)
	require.NoError(t, err)
	assert.Equal(t, []string{"x", "", "7", "1.5", "true"}, recvWithin(t, pull, 5*time.Second))
	requireNothingQueued(t, pull)
}

// framedStruct keeps a frame's bytes next to a pointer: cgo refuses to pass
// such memory to C, with a panic.
type framedStruct struct {
	hdr  [8]byte
	next *framedStruct
}

// A frame cgo refuses is a typed error, not a panic that leaves the socket
// locked: the socket keeps working and closes normally. As the first frame
// of a message it sends nothing; as a later frame it breaks the socket like
// any failure half-way. A small multipart message is copied into C memory
// before libzmq sees it, so cgo has nothing to refuse there.
func TestFrameRefusedByCgoIsAnError(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	f := &framedStruct{hdr: [8]byte{'h'}, next: &framedStruct{}}
	large := strings.Repeat("x", 8<<10) // not copied first

	_, err := push.SendMessage(f.hdr[:], "tail")
	require.NoError(t, err, "copied first")
	assert.Equal(t, []string{string(f.hdr[:]), "tail"}, recvWithin(t, pull, 5*time.Second))

	_, err = push.SendBytes(f.hdr[:], 0)
	require.ErrorIs(t, err, zmq.ErrInvalidMessage)
	_, err = push.SendMessage(f.hdr[:], large)
	require.ErrorIs(t, err, zmq.ErrInvalidMessage)
	_, err = push.Send("ok", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"ok"}, recvWithin(t, pull, 5*time.Second))
	requireNothingQueued(t, pull)

	_, err = push.SendMessage("head", f.hdr[:], large)
	require.ErrorIs(t, err, zmq.ErrPartialMessage)
	require.ErrorIs(t, err, zmq.ErrInvalidMessage)
	require.NoError(t, push.Close(), "the socket lock was released")
}
