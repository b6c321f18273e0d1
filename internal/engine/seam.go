package engine

/*
#cgo !windows pkg-config: libzmq
#include <zmq.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/eventfd.h>

// zg_rx is a receive slot owned by one socket. It lives in C memory so that
// receiving a frame costs no Go allocation beyond the frame's bytes.
//
// The same struct holds the libzmq message of a Msg (see msg.go).
typedef struct {
	zmq_msg_t msg;
	void *data;
	size_t size;
	int more;
	int err;
	// copied is set by zg_recv_msg and zg_recv_many when the frame was
	// copied out (into the caller's buffer, or into the arena at off)
	// and libzmq's message already released.
	int copied;
	size_t off;
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

// zg_recv_msg receives one frame into rx. A frame of at most cap bytes
// is copied into buf (which may be NULL when cap is 0) and libzmq's
// message released at once, so that a small frame does not keep a shared
// receive buffer of libzmq's alive; a larger one stays in rx (zero copy).
static int zg_recv_msg(void *s, zg_rx *rx, int flags, void *buf, size_t cap) {
	int rc = zmq_msg_recv(&rx->msg, s, flags);
	if (rc < 0) {
		rx->err = zmq_errno();
		return -1;
	}
	rx->size = zmq_msg_size(&rx->msg);
	rx->more = zmq_msg_more(&rx->msg);
	if (rx->size <= cap && (buf != NULL || rx->size == 0)) {
		if (rx->size > 0) memcpy(buf, zmq_msg_data(&rx->msg), rx->size);
		zmq_msg_close(&rx->msg);
		zmq_msg_init(&rx->msg);
		rx->data = NULL;
		rx->copied = 1;
		return 0;
	}
	rx->data = zmq_msg_data(&rx->msg);
	rx->copied = 0;
	return 0;
}

// zg_recv_many receives up to n frames into rxs, the first with flags and
// the rest without waiting, and returns how many it received; when the
// first fails it returns -1 with the errno in rxs[0]->err. Frames of at
// most copymax bytes are copied into the arena while it has room (their
// rx->off says where) and released at once; the others stay in their rx.
static int zg_recv_many(void *s, zg_rx **rxs, int n, int flags, char *arena, size_t arenacap, size_t copymax) {
	size_t used = 0;
	for (int i = 0; i < n; i++) {
		zg_rx *rx = rxs[i];
		int rc = zmq_msg_recv(&rx->msg, s, i == 0 ? flags : (flags | ZMQ_DONTWAIT));
		if (rc < 0) {
			if (i == 0) {
				rx->err = zmq_errno();
				return -1;
			}
			return i;
		}
		size_t sz = zmq_msg_size(&rx->msg);
		rx->size = sz;
		rx->more = zmq_msg_more(&rx->msg);
		if (sz <= copymax && used + sz <= arenacap) {
			if (sz > 0) memcpy(arena + used, zmq_msg_data(&rx->msg), sz);
			rx->off = used;
			used += sz;
			zmq_msg_close(&rx->msg);
			zmq_msg_init(&rx->msg);
			rx->data = NULL;
			rx->copied = 1;
		} else {
			rx->data = zmq_msg_data(&rx->msg);
			rx->copied = 0;
		}
	}
	return n;
}

// zg_tx is one frame of zg_send_many: rx's message when rx is set (sent
// without a copy; rx is left empty), else size bytes of the arena at off.
typedef struct {
	zg_rx *rx;
	size_t off;
	size_t size;
	int flags;
} zg_tx;

// zg_send_many sends the frames of tx in order and returns how many were
// sent; *err is the errno of the frame that failed, or 0.
static int zg_send_many(void *s, zg_tx *tx, int n, const char *arena, int *err) {
	for (int i = 0; i < n; i++) {
		int rc;
		if (tx[i].rx != NULL) {
			rc = zmq_msg_send(&tx[i].rx->msg, s, tx[i].flags);
		} else {
			rc = zmq_send(s, tx[i].size > 0 ? arena + tx[i].off : NULL, tx[i].size, tx[i].flags);
		}
		if (rc < 0) {
			*err = zmq_errno();
			return i;
		}
	}
	*err = 0;
	return n;
}

// zg_msg_send sends rx's message without a copy; on success libzmq owns
// the content and rx is empty. It returns the errno, or 0.
static int zg_msg_send(void *s, zg_rx *rx, int flags) {
	int rc = zmq_msg_send(&rx->msg, s, flags);
	return rc < 0 ? zmq_errno() : 0;
}

// zg_msg_alloc replaces rx's content by size bytes of libzmq's memory and
// returns them, or NULL.
static void *zg_msg_alloc(zg_rx *rx, size_t size) {
	zmq_msg_close(&rx->msg);
	if (zmq_msg_init_size(&rx->msg, size) != 0) {
		zmq_msg_init(&rx->msg);
		return NULL;
	}
	rx->data = zmq_msg_data(&rx->msg);
	rx->size = size;
	return rx->data;
}

// zg_msg_reset releases rx's content (rx stays usable).
static void zg_msg_reset(zg_rx *rx) {
	zmq_msg_close(&rx->msg);
	zmq_msg_init(&rx->msg);
	rx->data = NULL;
	rx->size = 0;
}

// Tracked sends without a copy (tracked.go). libzmq calls zg_pin_done on
// whatever thread drops the message's last reference, often its I/O
// thread: it runs no Go code, only pushes the send's node onto a lock-free
// stack and, when the stack was empty, writes an eventfd that a goroutine
// waits on in the netpoller.
typedef struct zg_pin {
	struct zg_pin *next;
	uintptr_t token;
} zg_pin;

static zg_pin *zg_pins_done;
static int zg_pins_efd = -1;

// zg_pins_init creates the eventfd once; it returns it, or -errno.
static int zg_pins_init(void) {
	if (zg_pins_efd < 0) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) return -errno;
		zg_pins_efd = fd;
	}
	return zg_pins_efd;
}

static void zg_pin_done(void *data, void *hint) {
	zg_pin *p = (zg_pin *)hint;
	zg_pin *old = __atomic_load_n(&zg_pins_done, __ATOMIC_RELAXED);
	do {
		p->next = old;
	} while (!__atomic_compare_exchange_n(&zg_pins_done, &old, p, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (old == NULL) {
		uint64_t one = 1;
		ssize_t w;
		do {
			w = write(zg_pins_efd, &one, sizeof one);
		} while (w < 0 && errno == EINTR);
	}
}

// zg_pins_take takes every node pushed so far (the drainer reads the
// eventfd first, then takes, so that no push goes unnoticed).
static zg_pin *zg_pins_take(void) {
	return __atomic_exchange_n(&zg_pins_done, NULL, __ATOMIC_ACQUIRE);
}

// zg_pins_free frees a taken list.
static void zg_pins_free(zg_pin *p) {
	while (p != NULL) {
		zg_pin *next = p->next;
		free(p);
		p = next;
	}
}

// zg_send_pinned sends size bytes at data without copying them: libzmq
// calls zg_pin_done with a node carrying token once it no longer needs
// them. It returns the errno, or 0; on failure libzmq never calls back.
static int zg_send_pinned(void *s, void *data, size_t size, uintptr_t token, int flags) {
	zg_pin *p = (zg_pin *)malloc(sizeof(zg_pin));
	if (p == NULL) return ENOMEM;
	p->next = NULL;
	p->token = token;
	zmq_msg_t m;
	if (zmq_msg_init_data(&m, data, size, zg_pin_done, p) != 0) {
		int e = zmq_errno();
		free(p);
		return e;
	}
	if (zmq_msg_send(&m, s, flags) < 0) {
		int e = zmq_errno();
		// Closing the unsent message calls zg_pin_done at once; token 0
		// tells the drainer that nothing was sent (the caller, told by
		// the errno, drains it).
		p->token = 0;
		zmq_msg_close(&m);
		return e;
	}
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

// crx is a libzmq message in C memory with the outcome of its last
// receive: the socket's receive slot, and the message of a Msg.
type crx = C.zg_rx

func rxNew() *crx { return C.zg_rx_new() }

func rxFree(rx *crx) { C.zg_rx_free(rx) }

// rxReset releases rx's content; rx stays usable.
func rxReset(rx *crx) { C.zg_msg_reset(rx) }

// rxAlloc replaces rx's content by size bytes of libzmq's memory and
// returns them (nil when libzmq is out of memory).
func rxAlloc(rx *crx, size int) unsafe.Pointer {
	return C.zg_msg_alloc(rx, C.size_t(size))
}

// rxView returns rx's bytes as a slice of C memory.
func rxView(rx *crx) []byte {
	if rx.size == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(rx.data), int(rx.size))
}

// free releases the receive slot. Call it once, after the socket is closed.
func (s *seam) free() {
	if s.rx != nil {
		C.zg_rx_free(s.rx)
		s.rx = nil
	}
	s.handle = nil
}

// sink says where a received frame goes, and holds the outcome.
type sink struct {
	kind      sinkKind
	msg       *Msg             // sinkMsg
	into      []byte           // sinkInto
	copyBelow int              // sinkMsg: frames under this size are copied
	alloc     func(int) []byte // sinkBytes: the socket's allocator, or nil

	b    []byte // sinkBytes: the frame
	n    int    // the frame's size (sinkInto: may exceed len(into))
	more bool
}

type sinkKind uint8

const (
	sinkBytes sinkKind = iota // a new []byte (or one from the allocator)
	sinkInto                  // copied into the caller's buffer
	sinkMsg                   // into a Msg
)

// recvTo receives one frame into k. err is a syscall.Errno, or a
// pebbe/zmq4 error on the fallback.
func (s *seam) recvTo(k *sink, flags zmq4.Flag) error {
	if s.rx == nil {
		data, err := s.raw.RecvBytes(flags)
		if err != nil {
			return rawErrno(err)
		}
		more, err := s.raw.GetRcvmore()
		if err != nil {
			return rawErrno(err)
		}
		k.n, k.more = len(data), more
		switch k.kind {
		case sinkMsg:
			k.msg.fromBytes(data, more)
		case sinkInto:
			copy(k.into, data)
		default:
			k.b = data
			if k.alloc != nil {
				k.b = allocCopy(k.alloc, data)
			}
		}
		return nil
	}
	if k.kind == sinkMsg {
		return k.msg.recvFrom(s, flags, k)
	}
	if C.zg_recv(s.handle, s.rx, C.int(flags)) != 0 {
		return syscall.Errno(s.rx.err)
	}
	n := int(s.rx.size)
	k.n, k.more = n, s.rx.more != 0
	switch {
	case k.kind == sinkInto:
		if n > 0 && len(k.into) > 0 {
			copy(k.into, unsafe.Slice((*byte)(s.rx.data), n))
		}
	case k.alloc != nil:
		k.b = allocCopy(k.alloc, rxView(s.rx))
	case n <= math.MaxInt32:
		// One allocation, not zeroed before the copy (make + copy would
		// clear it first).
		k.b = C.GoBytes(s.rx.data, C.int(n))
	default:
		k.b = make([]byte, n)
		copy(k.b, unsafe.Slice((*byte)(s.rx.data), n))
	}
	return nil
}

// allocCopy copies a frame into memory from the socket's allocator; a
// buffer too short for the frame is not used (the frame gets a new one).
func allocCopy(alloc func(int) []byte, data []byte) []byte {
	b := alloc(len(data))
	if cap(b) < len(data) {
		b = make([]byte, len(data))
	}
	b = b[:len(data)]
	copy(b, data)
	return b
}

// recvFrame receives one frame. more reports whether another frame of the
// same message follows. err is a syscall.Errno, or a pebbe/zmq4 error on
// the fallback.
func (s *seam) recvFrame(flags zmq4.Flag) (data []byte, more bool, err error) {
	k := sink{kind: sinkBytes}
	err = s.recvTo(&k, flags)
	return k.b, k.more, err
}

// recvMsg receives one frame into rx (the C half of a Msg): one of at
// most copyMax bytes is copied into buf and libzmq's message released.
// copied reports which happened.
func (s *seam) recvMsg(rx *crx, flags zmq4.Flag, buf []byte, copyMax int) (copied bool, err error) {
	var p unsafe.Pointer
	if copyMax > len(buf) {
		copyMax = len(buf)
	}
	if copyMax > 0 {
		p = unsafe.Pointer(unsafe.SliceData(buf))
	} else {
		copyMax = 0
	}
	if C.zg_recv_msg(s.handle, rx, C.int(flags), p, C.size_t(copyMax)) != 0 {
		return false, syscall.Errno(rx.err)
	}
	return rx.copied != 0, nil
}

// recvMany receives up to len(rxs) frames in one call into libzmq, the
// first with flags and the rest without waiting. Frames of at most
// copyMax bytes are copied into arena while it has room (rx.copied,
// rx.off). It returns how many frames it received.
func (s *seam) recvMany(rxs []*crx, flags zmq4.Flag, arena []byte, copyMax int) (int, error) {
	var p *C.char
	if len(arena) > 0 {
		p = (*C.char)(unsafe.Pointer(unsafe.SliceData(arena)))
	}
	if copyMax < 0 {
		copyMax = 0
	}
	n := C.zg_recv_many(s.handle, (**C.zg_rx)(unsafe.Pointer(unsafe.SliceData(rxs))), C.int(len(rxs)), C.int(flags), p, C.size_t(len(arena)), C.size_t(copyMax))
	if n < 0 {
		return 0, syscall.Errno(rxs[0].err)
	}
	return int(n), nil
}

func cint(f zmq4.Flag) C.int { return C.int(f) }

func csize(n int) C.size_t { return C.size_t(n) }

// txFrame is one frame of sendMany: rx's message without a copy, or bytes of
// the arena.
type txFrame = C.zg_tx

// sendMany sends the frames of tx in one call into libzmq and returns how
// many were sent, with the errno of the one that failed.
func (s *seam) sendMany(tx []txFrame, arena []byte) (int, error) {
	var p *C.char
	if len(arena) > 0 {
		p = (*C.char)(unsafe.Pointer(unsafe.SliceData(arena)))
	}
	n := int(C.zg_send_many(s.handle, unsafe.SliceData(tx), C.int(len(tx)), p, &s.rx.err))
	if e := s.rx.err; e != 0 {
		return n, syscall.Errno(e)
	}
	return n, nil
}

// sendRx sends rx's message without a copy; on success rx is empty.
func (s *seam) sendRx(rx *crx, flags zmq4.Flag) error {
	if e := C.zg_msg_send(s.handle, rx, C.int(flags)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// sendPinned sends data without a copy: zg_pin_done reports token once
// libzmq is done with the bytes, which must stay pinned until then.
func (s *seam) sendPinned(data []byte, token uintptr, flags zmq4.Flag) error {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(unsafe.SliceData(data))
	}
	if e := C.zg_send_pinned(s.handle, p, C.size_t(len(data)), C.uintptr_t(token), C.int(flags)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// pinsInit creates the eventfd that libzmq's threads write when a send
// without a copy completes, once per process, and returns it.
func pinsInit() (int, error) {
	fd := C.zg_pins_init()
	if fd < 0 {
		return 0, syscall.Errno(-fd)
	}
	return int(fd), nil
}

// pinsTake takes the tokens of every completed send without a copy (0 for
// a send that libzmq refused) and appends them to dst.
func pinsTake(dst []uintptr) []uintptr {
	head := C.zg_pins_take()
	for p := head; p != nil; p = p.next {
		dst = append(dst, uintptr(p.token))
	}
	if head != nil {
		C.zg_pins_free(head)
	}
	return dst
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
