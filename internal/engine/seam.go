package engine

/*
#cgo !windows pkg-config: libzmq
#include <zmq.h>
#include <stdlib.h>
#include <errno.h>

// zg_rx is a receive slot owned by one socket. It lives in C memory so that
// receiving a frame costs no Go allocation beyond the frame's bytes.
typedef struct {
	zmq_msg_t msg;
	void *data;
	size_t size;
	int more;
	int err;
} zg_rx;

static zg_rx *zg_rx_new(void) {
	zg_rx *rx = (zg_rx *)calloc(1, sizeof(zg_rx));
	if (rx) zmq_msg_init(&rx->msg);
	return rx;
}

static void zg_rx_free(zg_rx *rx) {
	zmq_msg_close(&rx->msg);
	free(rx);
}

static int zg_recv(void *s, zg_rx *rx, int flags) {
	int rc = zmq_msg_recv(&rx->msg, s, flags);
	if (rc < 0) {
		rx->err = zmq_errno();
		return -1;
	}
	rx->data = zmq_msg_data(&rx->msg);
	rx->size = zmq_msg_size(&rx->msg);
	rx->more = zmq_msg_more(&rx->msg);
	return 0;
}

// zg_send returns the errno on failure and 0 on success.
static int zg_send(void *s, const void *buf, size_t len, int flags) {
	int rc = zmq_send(s, buf, len, flags);
	return rc < 0 ? zmq_errno() : 0;
}

// zg_events returns ZMQ_EVENTS, or -errno.
static int zg_events(void *s) {
	int ev = 0;
	size_t sz = sizeof(ev);
	if (zmq_getsockopt(s, ZMQ_EVENTS, &ev, &sz) != 0) return -zmq_errno();
	return ev;
}

// zg_fd returns ZMQ_FD, or -errno.
static int zg_fd(void *s) {
	int fd = -1;
	size_t sz = sizeof(fd);
	if (zmq_getsockopt(s, ZMQ_FD, &fd, &sz) != 0) return -zmq_errno();
	return fd;
}
*/
import "C"

import (
	"errors"
	"math"
	"reflect"
	"syscall"
	"unsafe"

	zmq4 "github.com/pebbe/zmq4"
)

// This file is the seam between zmqguard and libzmq for the hot path:
// receive a frame, send a frame, read ZMQ_EVENTS and ZMQ_FD. Everything else
// goes through pebbe/zmq4. The seam talks to libzmq directly, on the socket
// handle that pebbe/zmq4 created, because pebbe allocates twice per received
// frame and once per sent string; the seam allocates only the frame's bytes.
//
// The handle is the first field of zmq4.Socket. directHandles records
// whether that layout holds for the pebbe/zmq4 version we were built with;
// when it does not, the seam falls back to pebbe's own calls (slower, same
// behaviour). TestSeamFallback runs the socket suite over the fallback.
var directHandles = func() bool {
	f, ok := reflect.TypeOf(zmq4.Socket{}).FieldByName("soc")
	return ok && f.Offset == 0 && f.Type == reflect.TypeOf(unsafe.Pointer(nil))
}()

// seam is one socket's access to libzmq. It is not safe for concurrent use;
// Socket serialises calls.
type seam struct {
	raw    *zmq4.Socket
	handle unsafe.Pointer // libzmq socket, nil when using the fallback
	rx     *C.zg_rx       // receive slot, nil when using the fallback
}

func newSeam(raw *zmq4.Socket, direct bool) seam {
	s := seam{raw: raw}
	if direct && directHandles {
		s.handle = *(*unsafe.Pointer)(unsafe.Pointer(raw))
		s.rx = C.zg_rx_new()
	}
	return s
}

// free releases the receive slot. Call it once, after the socket is closed.
func (s *seam) free() {
	if s.rx != nil {
		C.zg_rx_free(s.rx)
		s.rx = nil
	}
	s.handle = nil
}

// recvFrame receives one frame. more reports whether another frame of the
// same message follows. err is a syscall.Errno, or a pebbe/zmq4 error on
// the fallback.
func (s *seam) recvFrame(flags zmq4.Flag) (data []byte, more bool, err error) {
	if s.rx == nil {
		data, err = s.raw.RecvBytes(flags)
		if err != nil {
			return nil, false, rawErrno(err)
		}
		more, err = s.raw.GetRcvmore()
		return data, more, rawErrno(err)
	}
	if C.zg_recv(s.handle, s.rx, C.int(flags)) != 0 {
		return nil, false, syscall.Errno(s.rx.err)
	}
	n := int(s.rx.size)
	if n <= math.MaxInt32 {
		// One allocation, not zeroed before the copy (make + copy would
		// clear it first).
		return C.GoBytes(s.rx.data, C.int(n)), s.rx.more != 0, nil
	}
	data = make([]byte, n)
	copy(data, unsafe.Slice((*byte)(s.rx.data), n))
	return data, s.rx.more != 0, nil
}

// sendFrame sends one frame; libzmq copies the bytes before it returns.
func (s *seam) sendFrame(data []byte, flags zmq4.Flag) error {
	if s.handle == nil {
		_, err := s.raw.SendBytes(data, flags)
		return rawErrno(err)
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(unsafe.SliceData(data))
	}
	if e := C.zg_send(s.handle, p, C.size_t(len(data)), C.int(flags)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// sendString sends one frame from a string without converting it to bytes.
func (s *seam) sendString(data string, flags zmq4.Flag) error {
	if s.handle == nil {
		_, err := s.raw.Send(data, flags)
		return rawErrno(err)
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(unsafe.StringData(data))
	}
	if e := C.zg_send(s.handle, p, C.size_t(len(data)), C.int(flags)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// events returns ZMQ_EVENTS. Reading it also makes libzmq process pending
// commands, which re-arms the edge-triggered ZMQ_FD.
func (s *seam) events() (zmq4.State, error) {
	if s.handle == nil {
		st, err := s.raw.GetEvents()
		return st, rawErrno(err)
	}
	ev := C.zg_events(s.handle)
	if ev < 0 {
		return 0, syscall.Errno(-ev)
	}
	return zmq4.State(ev), nil
}

// fd returns the socket's ZMQ_FD.
func (s *seam) fd() (int, error) {
	if s.handle == nil {
		fd, err := s.raw.GetFd()
		return fd, rawErrno(err)
	}
	fd := C.zg_fd(s.handle)
	if fd < 0 {
		return 0, syscall.Errno(-fd)
	}
	return int(fd), nil
}

// rawErrno converts a pebbe/zmq4 errno into a syscall.Errno, so that the
// engine sees one kind of errno from both paths. Other errors (a closed
// pebbe socket) pass through.
func rawErrno(err error) error {
	var e zmq4.Errno
	if errors.As(err, &e) {
		return syscall.Errno(e)
	}
	return err
}

func isAgain(err error) bool { return err == syscall.EAGAIN }
func isIntr(err error) bool  { return err == syscall.EINTR }
