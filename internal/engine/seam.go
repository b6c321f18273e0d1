package engine

/*
#cgo !windows pkg-config: libzmq
#define _GNU_SOURCE
#include <zmq.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <pthread.h>

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
	// Where the frame is (see zg_rx_keep): ZG_IN_MSG in msg (libzmq's
	// message: a view of its buffer, or libzmq's memory for a send),
	// ZG_IN_BUF in buf[0:size], a copy in C memory that the Msg owns and
	// reuses (msg released), ZG_INLINE inside msg itself, a frame small
	// enough that libzmq keeps it in the zmq_msg_t and holds no buffer.
	int copied;
	char *buf;
	size_t cap;
	int cut; // zg_send_many's outcome, on the socket's slot
} zg_rx;

static zg_rx *zg_rx_new(void) {
	zg_rx *rx = (zg_rx *)calloc(1, sizeof(zg_rx));
	if (rx) zmq_msg_init(&rx->msg);
	return rx;
}

static void zg_rx_free(zg_rx *rx) {
	zmq_msg_close(&rx->msg);
	free(rx->buf);
	free(rx);
}

// zg_rx_grow makes rx's copy buffer hold at least n bytes; 0 on success.
static int zg_rx_grow(zg_rx *rx, size_t n) {
	if (n <= rx->cap) return 0;
	size_t c = 64;
	while (c < n) c *= 2;
	char *b = (char *)realloc(rx->buf, c);
	if (b == NULL) return ENOMEM;
	rx->buf = b;
	rx->cap = c;
	return 0;
}

#define ZG_IN_MSG 0
#define ZG_IN_BUF 1
#define ZG_INLINE 2

// zg_inline reports whether m's bytes (at data) lie inside the zmq_msg_t
// itself, where libzmq keeps a very small frame (up to 33 bytes on
// 64-bit): such a message holds no buffer of libzmq's. Asked of the
// pointer, not the size, because a frame of that size can also arrive as
// a reference into libzmq's shared receive buffer.
static int zg_inline(const zmq_msg_t *m, const void *data) {
	return (uintptr_t)data - (uintptr_t)m < sizeof(zmq_msg_t);
}

// zg_rx_keep records the frame just received into rx: a frame of at most
// copymax bytes is copied into rx's buffer and libzmq's message released
// at once, so that a small frame does not keep one of libzmq's shared
// receive buffers alive; a larger one stays in msg (zero copy). A frame
// that lives inside the zmq_msg_t holds no buffer and stays where it is
// (ZG_INLINE): copying it would only touch one more cache line per frame
// (16 B push-pull batches measured 2-4% faster so: docs/BENCHMARKS.md,
// "Eighth session").
static void zg_rx_keep(zg_rx *rx, size_t copymax) {
	size_t sz = zmq_msg_size(&rx->msg);
	void *data = zmq_msg_data(&rx->msg);
	rx->size = sz;
	rx->more = zmq_msg_more(&rx->msg);
	if (sz <= copymax && zg_inline(&rx->msg, data)) {
		rx->data = data;
		rx->copied = ZG_INLINE;
		return;
	}
	if (sz <= copymax && (sz <= rx->cap || zg_rx_grow(rx, sz) == 0)) {
		memcpy(rx->buf, data, sz);
		zmq_msg_close(&rx->msg);
		zmq_msg_init(&rx->msg);
		rx->data = NULL;
		rx->copied = ZG_IN_BUF;
		return;
	}
	rx->data = data;
	rx->copied = ZG_IN_MSG;
}

// zg_rx_empty records that rx holds no frame (after a send, or a failed
// receive: libzmq empties the message in both cases).
static void zg_rx_empty(zg_rx *rx) {
	rx->data = NULL;
	rx->size = 0;
	rx->copied = ZG_IN_MSG;
	rx->more = 0;
}

// zg_hot is a hot-wait slot (hot.go): tid is the thread blocked in a
// receive under it (0: none), stop is set by whoever wants that receive
// to end (it then fails with EINTR, see zg_hot_arm).
typedef struct {
	int tid;
	int stop;
} zg_hot;

static __thread int zg_tid;

// zg_hot_arm publishes the calling thread in h before a blocking receive
// or send: a signal sent to it from then on interrupts libzmq's poll(2)
// (EINTR). It fails (1) when stop is set already; together with the
// caller of zg_hot_stop, who sets stop before reading tid, at least one of
// the two sees the other.
static int zg_hot_arm(zg_hot *h) {
	if (h == NULL) return 0;
	if (zg_tid == 0) zg_tid = (int)gettid();
	__atomic_store_n(&h->tid, zg_tid, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&h->stop, __ATOMIC_SEQ_CST) != 0) {
		__atomic_store_n(&h->tid, 0, __ATOMIC_SEQ_CST);
		return 1;
	}
	return 0;
}

static void zg_hot_disarm(zg_hot *h) {
	if (h != NULL) __atomic_store_n(&h->tid, 0, __ATOMIC_SEQ_CST);
}

static int zg_recv1(void *s, zg_rx *rx, int flags, zg_hot *h) {
	if (zg_hot_arm(h)) {
		rx->err = EINTR;
		return -1;
	}
	int rc = zmq_msg_recv(&rx->msg, s, flags);
	zg_hot_disarm(h);
	if (rc < 0) {
		rx->err = zmq_errno();
		return -1;
	}
	rx->data = zmq_msg_data(&rx->msg);
	rx->size = zmq_msg_size(&rx->msg);
	rx->more = zmq_msg_more(&rx->msg);
	return 0;
}

// zg_recv receives one frame into rx. Go passes the handle and the slot
// as integers, sparing the call cgo's pointer checks (both are C memory).
static int zg_recv(uintptr_t s, uintptr_t rx, int flags, zg_hot *h) {
	return zg_recv1((void *)s, (zg_rx *)rx, flags, h);
}

// zg_recv_msg receives one frame into rx (see zg_rx_keep).
static int zg_recv_msg(uintptr_t sock, uintptr_t rxp, int flags, size_t copymax, zg_hot *h) {
	void *s = (void *)sock;
	zg_rx *rx = (zg_rx *)rxp;
	if (zg_hot_arm(h)) {
		rx->err = EINTR;
		zg_rx_empty(rx);
		return -1;
	}
	int rc = zmq_msg_recv(&rx->msg, s, flags);
	zg_hot_disarm(h);
	if (rc < 0) {
		rx->err = zmq_errno();
		zg_rx_empty(rx);
		return -1;
	}
	zg_rx_keep(rx, copymax);
	return 0;
}

// zg_recv_many receives up to n frames into the zg_rx at rxs, the first
// with flags and the rest without waiting (see zg_rx_keep), and returns
// how many it received; when the first fails it returns -1 with the
// errno in *err. rxs holds the pointers as integers, so that cgo's
// pointer check has nothing to scan in the Go array that carries them.
static int zg_recv_many(uintptr_t sock, uintptr_t *rxs, int n, int flags, size_t copymax, int *err, zg_hot *h) {
	if (zg_hot_arm(h)) {
		*err = EINTR;
		return -1;
	}
	void *s = (void *)sock;
	for (int i = 0; i < n; i++) {
		zg_rx *rx = (zg_rx *)rxs[i];
		int rc = zmq_msg_recv(&rx->msg, s, i == 0 ? flags : (flags | ZMQ_DONTWAIT));
		if (i == 0) zg_hot_disarm(h);
		if (rc < 0) {
			zg_rx_empty(rx);
			if (i == 0) {
				*err = zmq_errno();
				return -1;
			}
			return i;
		}
		zg_rx_keep(rx, copymax);
	}
	return n;
}

// zg_rest_new returns an array of n empty zg_rx, or NULL.
static zg_rx *zg_rest_new(int n) {
	zg_rx *a = (zg_rx *)calloc(n, sizeof(zg_rx));
	if (a) for (int i = 0; i < n; i++) zmq_msg_init(&a[i].msg);
	return a;
}

// zg_rest_free frees an array from zg_rest_new.
static void zg_rest_free(zg_rx *a, int n) {
	for (int i = 0; i < n; i++) zmq_msg_close(&a[i].msg);
	free(a);
}

// zg_recv_rest receives the rest of a message whose first frame said more
// follows, up to n frames, into the array a, as views; it returns how
// many, having stopped after the message's last frame, or -1 with the
// errno in *err. libzmq delivers a message whole, so the rest never has
// to be waited for.
static int zg_recv_rest(void *s, zg_rx *a, int n, int *err) {
	for (int i = 0; i < n; i++) {
		zg_rx *rx = &a[i];
		int rc;
		do {
			rc = zmq_msg_recv(&rx->msg, s, ZMQ_DONTWAIT);
		} while (rc < 0 && zmq_errno() == EINTR);
		if (rc < 0) {
			*err = zmq_errno();
			zg_rx_empty(rx);
			return -1;
		}
		zg_rx_keep(rx, 0);
		if (!rx->more) return i + 1;
	}
	return n;
}

// zg_recv_whole receives a message's first frame into rx, as zg_recv
// does, and, when more follow, the rest of it in the same call: up to n
// frames into a, as zg_recv_rest does. It returns how many it received
// after the first, or -1 when the first failed and -2 when the rest did,
// with the errno in rx->err.
// Pointers come as integers, as in zg_recv.
static int zg_recv_whole(uintptr_t sock, uintptr_t rxp, uintptr_t ap, int n, int flags, zg_hot *h) {
	void *s = (void *)sock;
	zg_rx *rx = (zg_rx *)rxp, *a = (zg_rx *)ap;
	if (zg_recv1(s, rx, flags, h) != 0) return -1;
	if (!rx->more) return 0;
	int k = zg_recv_rest(s, a, n, &rx->err);
	return k < 0 ? -2 : k;
}

// zg_send_flat sends the first upto of n frames that lie one after the
// other in buf, frame i being sizes[i] bytes, as one message (SNDMORE on
// all but the last), and returns how many were sent; *err is the errno of
// the one that failed, EAGAIN when upto < n (tests: a cut), or 0. Only
// the first frame can be refused for the high-water mark, so the later
// ones retry EINTR here rather than leave the message cut.
static int zg_send_flat(uintptr_t sock, const char *buf, const uintptr_t *sizes, int n, int upto, int flags, int *err) {
	void *s = (void *)sock;
	for (int i = 0; i < upto; i++) {
		int f = flags | (i < n - 1 ? ZMQ_SNDMORE : 0);
		int rc;
		do {
			rc = zmq_send(s, buf, sizes[i], f);
		} while (rc < 0 && i > 0 && zmq_errno() == EINTR);
		if (rc < 0) {
			*err = zmq_errno();
			return i;
		}
		buf += sizes[i];
	}
	*err = upto < n ? EAGAIN : 0;
	return upto;
}

// zg_msg_send sends rx, with SNDMORE when rx->more is set: its copy from
// the buffer (libzmq copies it), else its message without a copy (libzmq
// owns the content; an inline frame it copies as zmq_msg_send always
// does). Either way rx is empty afterwards. It returns the
// errno, or 0.
static int zg_msg_send1(void *s, zg_rx *rx, int flags) {
	if (rx->more) flags |= ZMQ_SNDMORE;
	int rc;
	if (rx->copied == ZG_IN_BUF) {
		rc = zmq_send(s, rx->buf, rx->size, flags);
	} else {
		rc = zmq_msg_send(&rx->msg, s, flags);
	}
	if (rc < 0) return zmq_errno();
	zg_rx_empty(rx);
	return 0;
}

// zg_msg_send is zg_msg_send1 with the pointers as integers (see zg_recv).
static int zg_msg_send(uintptr_t s, uintptr_t rx, int flags) {
	return zg_msg_send1((void *)s, (zg_rx *)rx, flags);
}

// zg_send_many sends the Msgs at rxs (pointers as integers, as in
// zg_recv_many) in order, as zg_msg_send does, and returns how many were
// sent; *err is the errno of the one that failed, or 0, and *cut is set
// when a frame sent with SNDMORE came before it. With h (a hot wait) the
// sends may block, interruptibly (see zg_hot_arm).
static int zg_send_many(uintptr_t sock, uintptr_t *rxs, int n, int flags, int *err, int *cut, zg_hot *h) {
	void *s = (void *)sock;
	if (zg_hot_arm(h)) {
		*err = EINTR;
		*cut = 0;
		return 0;
	}
	int i = 0, e = 0, more = 0;
	for (; i < n; i++) {
		zg_rx *rx = (zg_rx *)rxs[i];
		int next = rx->more;
		e = zg_msg_send1(s, rx, flags);
		if (e != 0) break;
		more = next;
	}
	zg_hot_disarm(h);
	*err = e;
	*cut = e != 0 && more;
	return i;
}

// zg_pool keeps the buffers of large frames sent from Go for reuse, by
// size class (powers of two from 16 KiB to 1 MiB), up to ZG_POOL_BYTES in
// all. Without it each such frame is a fresh malloc on whichever thread
// the goroutine runs, freed by libzmq's I/O thread once sent: the arenas
// of the Go threads (the main one's through brk) then shrink and grow
// again, and every frame pays its pages' faults (10 per 64 KiB frame
// were counted, against under 2 for the C loop). The free callback runs
// on libzmq's I/O thread, in C only.
#define ZG_POOL_MIN_SHIFT 14
#define ZG_POOL_CLASSES 7
#define ZG_POOL_BYTES (8 << 20)

typedef struct zg_buf {
	struct zg_buf *next;
} zg_buf;

static zg_buf *zg_pool_head[ZG_POOL_CLASSES];
static size_t zg_pool_bytes;
static pthread_mutex_t zg_pool_mu = PTHREAD_MUTEX_INITIALIZER;

// zg_pool_class returns the size class of a buffer of size bytes, or -1
// when the pool does not take that size.
static int zg_pool_class(size_t size) {
	if (size < ((size_t)1 << ZG_POOL_MIN_SHIFT)) return -1;
	for (int c = 0; c < ZG_POOL_CLASSES; c++) {
		if (size <= ((size_t)1 << (ZG_POOL_MIN_SHIFT + c))) return c;
	}
	return -1;
}

// zg_pool_put is libzmq's free callback for pooled buffers; hint is the
// size class + 1.
static void zg_pool_put(void *data, void *hint) {
	int c = (int)(uintptr_t)hint - 1;
	size_t sz = (size_t)1 << (ZG_POOL_MIN_SHIFT + c);
	pthread_mutex_lock(&zg_pool_mu);
	if (zg_pool_bytes + sz <= ZG_POOL_BYTES) {
		zg_buf *b = (zg_buf *)data;
		b->next = zg_pool_head[c];
		zg_pool_head[c] = b;
		zg_pool_bytes += sz;
		pthread_mutex_unlock(&zg_pool_mu);
		return;
	}
	pthread_mutex_unlock(&zg_pool_mu);
	free(data);
}

// zg_pool_idle returns the bytes of the buffers in the pool.
static size_t zg_pool_idle(void) {
	pthread_mutex_lock(&zg_pool_mu);
	size_t n = zg_pool_bytes;
	pthread_mutex_unlock(&zg_pool_mu);
	return n;
}

// zg_msg_init_pooled makes m a message of size bytes in a pooled buffer
// of class c; 0 on success.
static int zg_msg_init_pooled(zmq_msg_t *m, size_t size, int c) {
	size_t sz = (size_t)1 << (ZG_POOL_MIN_SHIFT + c);
	pthread_mutex_lock(&zg_pool_mu);
	zg_buf *b = zg_pool_head[c];
	if (b != NULL) {
		zg_pool_head[c] = b->next;
		zg_pool_bytes -= sz;
	}
	pthread_mutex_unlock(&zg_pool_mu);
	void *data = b != NULL ? (void *)b : malloc(sz);
	if (data == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (zmq_msg_init_data(m, data, size, zg_pool_put, (void *)(uintptr_t)(c + 1)) != 0) {
		zg_pool_put(data, (void *)(uintptr_t)(c + 1));
		return -1;
	}
	return 0;
}

// zg_msg_init_size is zmq_msg_init_size, from the pool for large sizes.
static int zg_msg_init_size(zmq_msg_t *m, size_t size) {
	int c = zg_pool_class(size);
	if (c < 0) return zmq_msg_init_size(m, size);
	return zg_msg_init_pooled(m, size, c);
}

// zg_msg_alloc replaces rx's content by size bytes of libzmq's memory and
// returns them, or NULL.
static void *zg_msg_alloc(zg_rx *rx, size_t size) {
	int more = rx->more;
	zg_rx_empty(rx);
	rx->more = more;
	zmq_msg_close(&rx->msg);
	if (zg_msg_init_size(&rx->msg, size) != 0) {
		zmq_msg_init(&rx->msg);
		return NULL;
	}
	rx->data = zmq_msg_data(&rx->msg);
	rx->size = size;
	return rx->data;
}

// zg_msg_copy replaces rx's content by a libzmq message holding a copy
// of size bytes at data (memcpy: for a large frame, the copy zmq_send
// would make); 0 on success.
static int zg_msg_copy(zg_rx *rx, const void *data, size_t size) {
	void *p = zg_msg_alloc(rx, size);
	if (p == NULL && size > 0) return ENOMEM;
	if (size > 0) memcpy(p, data, size);
	return 0;
}

// zg_msg_reset releases rx's content (rx stays usable).
static void zg_msg_reset(zg_rx *rx) {
	zmq_msg_close(&rx->msg);
	zmq_msg_init(&rx->msg);
	int more = rx->more;
	zg_rx_empty(rx);
	rx->more = more;
}

// zg_rx_release releases the messages of the first n zg_rx of a.
static void zg_rx_release(zg_rx *a, int n) {
	for (int i = 0; i < n; i++) zg_msg_reset(&a[i]);
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
static int zg_send_pinned(uintptr_t sock, void *data, size_t size, uintptr_t token, int flags) {
	void *s = (void *)sock;
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
static int zg_send(uintptr_t s, const void *buf, size_t len, int flags) {
	if (zg_pool_class(len) >= 0) {
		// zmq_send's copy, into a pooled buffer (see zg_pool).
		zmq_msg_t m;
		if (zg_msg_init_size(&m, len) != 0) return zmq_errno();
		memcpy(zmq_msg_data(&m), buf, len);
		if (zmq_msg_send(&m, (void *)s, flags) < 0) {
			int e = zmq_errno();
			zmq_msg_close(&m);
			return e;
		}
		return 0;
	}
	int rc = zmq_send((void *)s, buf, len, flags);
	return rc < 0 ? zmq_errno() : 0;
}

// zg_events returns ZMQ_EVENTS, or -errno.
static int zg_events(uintptr_t sock) {
	void *s = (void *)sock;
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
	rest   []C.zg_rx      // slots of recvRest, C memory, made on first use
	// flat is sendFlat's scratch, C memory made on first use and grown to
	// fit, never past flatMax: the frames' sizes, then their bytes.
	flat    unsafe.Pointer
	flatCap int
	// hot, while set, makes the next receive a hot wait's: it publishes
	// its thread in the slot, so that it can be interrupted (hot.go).
	hot *C.zg_hot
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

// Where a crx's frame is (its copied field; see zg_rx in the preamble,
// and ZG_INLINE there for the third place).
const (
	inMsg = C.ZG_IN_MSG // libzmq's message: a view, or memory for a send
	inBuf = C.ZG_IN_BUF // a copy in the Msg's own buffer
)

// rxView returns rx's bytes (its message, or its copy) as a slice of C
// memory.
func rxView(rx *crx) []byte {
	if rx.size == 0 {
		return []byte{}
	}
	if rx.copied == inBuf {
		return unsafe.Slice((*byte)(unsafe.Pointer(rx.buf)), int(rx.size))
	}
	return unsafe.Slice((*byte)(rx.data), int(rx.size))
}

// rxCopyMsg makes rx a libzmq message holding a copy of b, copied in C;
// false when out of memory.
func rxCopyMsg(rx *crx, b []byte) bool {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(unsafe.SliceData(b))
	}
	return C.zg_msg_copy(rx, p, C.size_t(len(b))) == 0
}

// rxSetCopy makes rx a copy of b, in its buffer; false when out of memory.
// Only a view is released here: an inline frame holds nothing of libzmq's,
// and its message struct is released by the next receive, Alloc or Close,
// which spares SetBytes a call into C after a small receive.
func rxSetCopy(rx *crx, b []byte) bool {
	if rx.copied == inMsg && rx.data != nil {
		rxReset(rx)
	}
	rx.data = nil
	if C.size_t(len(b)) > rx.cap && C.zg_rx_grow(rx, C.size_t(len(b))) != 0 {
		return false
	}
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(rx.buf)), len(b)), b)
	}
	rx.size, rx.copied = C.size_t(len(b)), inBuf
	return true
}

// free releases the receive slot. Call it once, after the socket is closed.
func (s *seam) free() {
	if s.rx != nil {
		C.zg_rx_free(s.rx)
		s.rx = nil
	}
	if s.rest != nil {
		C.zg_rest_free(&s.rest[0], C.int(len(s.rest)))
		s.rest = nil
	}
	if s.flat != nil {
		C.free(s.flat)
		s.flat, s.flatCap = nil, 0
	}
	s.handle = nil
}

// restSlots is how many frames of a message's rest recvRest takes per
// call into libzmq.
const restSlots = 16

// recvRest receives the rest of a message whose first frame said more
// follows, in one call into libzmq per restSlots frames, and appends each
// frame to msg as a new slice (or one from alloc). It returns the message.
func (s *seam) recvRest(msg [][]byte, alloc func(int) []byte) ([][]byte, error) {
	if err := s.makeRest(); err != nil {
		return msg, err
	}
	for {
		n := int(C.zg_recv_rest(s.handle, &s.rest[0], C.int(len(s.rest)), &s.rx.err))
		if n < 0 {
			return msg, syscall.Errno(s.rx.err)
		}
		for i := range n {
			msg = append(msg, goFrame(&s.rest[i], alloc))
		}
		s.releaseRest(n)
		if n < len(s.rest) || s.rest[n-1].more == 0 {
			return msg, nil
		}
	}
}

// makeRest makes the slots of recvRest and recvWhole, on first use.
func (s *seam) makeRest() error {
	if s.rest == nil {
		a := C.zg_rest_new(restSlots)
		if a == nil {
			return syscall.ENOMEM
		}
		s.rest = unsafe.Slice(a, restSlots)
	}
	return nil
}

// releaseRest releases the first n rest slots when they hold large
// frames, which are not kept alive until the next message; small ones go
// with the next receive.
func (s *seam) releaseRest(n int) {
	held := 0
	for i := range n {
		held += int(s.rest[i].size)
	}
	if held >= 64<<10 {
		C.zg_rx_release(&s.rest[0], C.int(n))
	}
}

// goFrame copies the frame in rx into a new slice, or one from alloc.
func goFrame(rx *crx, alloc func(int) []byte) []byte {
	switch size := int(rx.size); {
	case alloc != nil:
		return allocCopy(alloc, rxView(rx))
	case size <= math.MaxInt32:
		// One allocation, not zeroed before the copy (make + copy would
		// clear it first).
		return C.GoBytes(rx.data, C.int(size))
	default:
		b := make([]byte, size)
		copy(b, rxView(rx))
		return b
	}
}

// packMax is the largest message recvWhole copies into one allocation.
const packMax = 4 << 10

// recvWhole receives a whole message in one call into libzmq, its first
// frame with flags and up to restSlots more (the rest of a message is
// queued with its first frame). more reports frames beyond those, for
// recvRest. A small message's frames share one allocation, each capped
// at its own end so that appending to one cannot write into the next.
func (s *seam) recvWhole(flags zmq4.Flag, alloc func(int) []byte) (msg [][]byte, more bool, err error) {
	if err := s.makeRest(); err != nil {
		return nil, false, err
	}
	n := int(C.zg_recv_whole(s.uhandle(), cptr(unsafe.Pointer(s.rx)), cptr(unsafe.Pointer(&s.rest[0])), C.int(len(s.rest)), C.int(flags), s.hot))
	if n < 0 {
		return nil, false, syscall.Errno(s.rx.err)
	}
	msg = make([][]byte, 1+n)
	more = s.rx.more != 0
	if n > 0 {
		more = s.rest[n-1].more != 0
	}
	total := int(s.rx.size)
	for i := range n {
		total += int(s.rest[i].size)
	}
	if alloc != nil || total > packMax {
		msg[0] = goFrame(s.rx, alloc)
		for i := range n {
			msg[i+1] = goFrame(&s.rest[i], alloc)
		}
		s.releaseRest(n)
		return msg, more, nil
	}
	buf := make([]byte, total)
	off := copy(buf, rxView(s.rx))
	msg[0] = buf[:off:off]
	for i := range n {
		end := off + copy(buf[off:], rxView(&s.rest[i]))
		msg[i+1] = buf[off:end:end]
		off = end
	}
	return msg, more, nil
}

// sink says where a received frame goes, and holds the outcome.
type sink struct {
	kind      sinkKind
	msg       *Msg             // sinkMsg
	into      []byte           // sinkInto
	copyBelow int              // sinkMsg: frames under this size are copied
	alloc     func(int) []byte // sinkBytes: the socket's allocator, or nil
	whole     bool             // sinkBytes: the whole message (recvWhole)

	b      []byte   // sinkBytes: the frame
	frames [][]byte // whole: the message, b first
	n      int      // the frame's size (sinkInto: may exceed len(into))
	more   bool
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
	if k.kind == sinkMsg {
		return k.msg.recvFrom(s, flags, k)
	}
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
	if k.whole {
		msg, more, err := s.recvWhole(flags, k.alloc)
		if err != nil {
			return err
		}
		k.frames, k.b, k.n, k.more = msg, msg[0], len(msg[0]), more
		return nil
	}
	if C.zg_recv(s.uhandle(), cptr(unsafe.Pointer(s.rx)), C.int(flags), s.hot) != 0 {
		return syscall.Errno(s.rx.err)
	}
	n := int(s.rx.size)
	k.n, k.more = n, s.rx.more != 0
	switch {
	case k.kind == sinkInto:
		if n > 0 && len(k.into) > 0 {
			copy(k.into, unsafe.Slice((*byte)(s.rx.data), n))
		}
	default:
		k.b = goFrame(s.rx, k.alloc)
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

// recvMsg receives one frame into rx (the C half of a Msg); one of at
// most copyMax bytes is copied into rx's buffer (see zg_rx_keep).
func (s *seam) recvMsg(rx *crx, flags zmq4.Flag, copyMax int) error {
	if C.zg_recv_msg(s.uhandle(), cptr(unsafe.Pointer(rx)), C.int(flags), C.size_t(max(copyMax, 0)), s.hot) != 0 {
		return syscall.Errno(rx.err)
	}
	return nil
}

// recvMany receives up to len(rxs) frames into the Msgs' C halves in one
// call into libzmq, the first with flags and the rest without waiting,
// and returns how many it received.
func (s *seam) recvMany(rxs []uintptr, flags zmq4.Flag, copyMax int) (int, error) {
	n := C.zg_recv_many(s.uhandle(), (*C.uintptr_t)(unsafe.Pointer(unsafe.SliceData(rxs))), C.int(len(rxs)), C.int(flags), C.size_t(max(copyMax, 0)), &s.rx.err, s.hot)
	if n < 0 {
		return 0, syscall.Errno(s.rx.err)
	}
	return int(n), nil
}

// sendMany sends the Msgs' C halves at rxs in one call into libzmq (see
// zg_send_many), and returns how many were sent, with the errno of the
// one that failed and whether a frame sent with SNDMORE preceded it. In a
// hot wait (s.hot set) the sends block, interruptibly.
func (s *seam) sendMany(rxs []uintptr, flags zmq4.Flag) (n int, cut bool, err error) {
	n = int(C.zg_send_many(s.uhandle(), (*C.uintptr_t)(unsafe.Pointer(unsafe.SliceData(rxs))), C.int(len(rxs)), C.int(flags), &s.rx.err, &s.rx.cut, s.hot))
	if e := s.rx.err; e != 0 {
		return n, s.rx.cut != 0, syscall.Errno(e)
	}
	return n, false, nil
}

func cint(v int) C.int { return C.int(v) }

// SendPoolBytes bounds the idle buffers of sent frames of 16 KiB to 1 MiB
// that the engine keeps for the next such frames (see zg_pool): memory
// a process may hold beyond what its sockets hold.
const SendPoolBytes = C.ZG_POOL_BYTES

// sendPoolIdle returns the bytes of the idle buffers in the pool.
func sendPoolIdle() int64 { return int64(C.zg_pool_idle()) }

// cptr passes a pointer to C memory as an integer, which cgo does not
// check for Go pointers (it is not one).
func cptr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }

// uhandle is the socket's handle as an integer (see cptr).
func (s *seam) uhandle() C.uintptr_t { return cptr(s.handle) }

// hotC is the C half of a hot-wait slot.
type hotC = C.zg_hot

// hotNewC allocates the C half of a hot-wait slot (never freed: a process
// has at most maxHotSlots).
func hotNewC() *hotC { return (*hotC)(C.calloc(1, C.sizeof_zg_hot)) }

// tid and stop are the fields of a hot-wait slot's C half, for atomic
// access from Go.
func hotTid(h *hotC) *int32      { return (*int32)(unsafe.Pointer(&h.tid)) }
func hotStopFlag(h *hotC) *int32 { return (*int32)(unsafe.Pointer(&h.stop)) }

func (s *seam) sendRx(rx *crx, flags zmq4.Flag) error {
	if e := C.zg_msg_send(s.uhandle(), cptr(unsafe.Pointer(rx)), C.int(flags)); e != 0 {
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
	if e := C.zg_send_pinned(s.uhandle(), p, C.size_t(len(data)), C.uintptr_t(token), C.int(flags)); e != 0 {
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

// Messages of at most flatFrames frames and flatMax bytes go to libzmq
// in one call (sendFlat), copied into the seam's C memory first: a call
// per frame costs more than the copy, and cgo checks no Go pointer.
const (
	flatFrames = 16
	flatMax    = 4 << 10
	// flatHead is where the frames' bytes start in the scratch, after
	// their sizes.
	flatHead = flatFrames * int(unsafe.Sizeof(uintptr(0)))
)

// flatBuf returns sendFlat's scratch for n frames of size bytes in all:
// where their sizes go, and where their bytes go, one after the other.
func (s *seam) flatBuf(n, size int) (sizes []uintptr, data []byte, err error) {
	if need := flatHead + size; need > s.flatCap {
		c := max(s.flatCap*2, 512)
		for c < need {
			c *= 2
		}
		p := C.realloc(s.flat, C.size_t(c))
		if p == nil {
			return nil, nil, syscall.ENOMEM
		}
		s.flat, s.flatCap = p, c
	}
	sizes = unsafe.Slice((*uintptr)(s.flat), n)
	data = unsafe.Slice((*byte)(unsafe.Add(s.flat, flatHead)), size)
	return sizes, data, nil
}

// sendFlat sends the first upto of the n frames that flatBuf's scratch
// holds, as one message, and returns how many were sent.
func (s *seam) sendFlat(n, upto int, flags zmq4.Flag) (int, error) {
	sent := int(C.zg_send_flat(s.uhandle(), (*C.char)(unsafe.Add(s.flat, flatHead)), (*C.uintptr_t)(s.flat), C.int(n), C.int(upto), C.int(flags), &s.rx.err))
	if sent < n {
		return sent, syscall.Errno(s.rx.err)
	}
	return n, nil
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
	if e := C.zg_send(s.uhandle(), p, C.size_t(len(data)), C.int(flags)); e != 0 {
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
	if e := C.zg_send(s.uhandle(), p, C.size_t(len(data)), C.int(flags)); e != 0 {
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
	ev := C.zg_events(s.uhandle())
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
