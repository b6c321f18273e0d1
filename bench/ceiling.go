package bench

// The physical ceiling: the same PUSH->PULL transfer written in C against
// libzmq, with no Go in the loop. A sender pthread pushes n messages of
// size bytes; the calling thread pulls them with zmq_msg_recv. The clock
// starts after one warm-up message, as in the Go variants.
//
// The sender closes its socket only once the receiver has everything:
// libzmq 4.3 can drop the tail of what a PUSH socket had queued when it
// is closed while the receiver is behind, linger or not (libzmq#3774,
// #4660). Over ipc the last 1631 of 8001 16 B frames went missing in 2-8%
// of runs.

/*
#cgo pkg-config: libzmq
#include <zmq.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

typedef struct { void *ctx; char ep[256]; int size; int n; int err; _Atomic int received; } zg_send_args;

static void *zg_sender(void *p) {
	zg_send_args *a = p;
	// Default (infinite) linger: the receiver takes every message, and
	// linger 0 would drop those still queued for ipc and tcp at close.
	void *s = zmq_socket(a->ctx, ZMQ_PUSH);
	int tmo = 10000; // never block forever: a stuck run becomes an error
	zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
	zmq_setsockopt(s, ZMQ_LINGER, &tmo, sizeof tmo);
	if (zmq_connect(s, a->ep) != 0) { a->err = zmq_errno(); zmq_close(s); return NULL; }
	char *buf = calloc(1, a->size > 0 ? a->size : 1);
	for (int i = 0; i < a->n + 1; i++) {
		if (zmq_send(s, buf, a->size, 0) < 0) { a->err = zmq_errno(); break; }
	}
	free(buf);
	// Bounded like the sends: the receiver sets received when it is done.
	for (int ms = 0; ms < tmo && !atomic_load(&a->received); ms++) usleep(1000);
	zmq_close(s);
	return NULL;
}

static long long zg_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// zg_ceiling returns the nanoseconds for n messages, or -errno.
static long long zg_ceiling(const char *bind, int size, int n) {
	void *ctx = zmq_ctx_new();
	void *pull = zmq_socket(ctx, ZMQ_PULL);
	int linger = 0;
	zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger);
	int rcvtmo = 10000; // never block forever: a lost message becomes an error
	zmq_setsockopt(pull, ZMQ_RCVTIMEO, &rcvtmo, sizeof rcvtmo);
	if (zmq_bind(pull, bind) != 0) { long long e = zmq_errno(); zmq_close(pull); zmq_ctx_term(ctx); return -e; }
	zg_send_args a;
	memset(&a, 0, sizeof a);
	size_t len = sizeof a.ep;
	zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, a.ep, &len);
	a.ctx = ctx; a.size = size; a.n = n;
	pthread_t th;
	pthread_create(&th, NULL, zg_sender, &a);
	zmq_msg_t m;
	zmq_msg_init(&m);
	long long start = 0, rc = 0;
	for (int i = 0; i < n + 1; i++) {
		if (zmq_msg_recv(&m, pull, 0) < 0) { rc = -zmq_errno(); break; }
		if (i == 0) start = zg_now();
	}
	if (rc == 0) rc = zg_now() - start;
	atomic_store(&a.received, 1);
	zmq_msg_close(&m);
	pthread_join(th, NULL);
	if (rc >= 0 && a.err != 0) rc = -a.err;
	zmq_close(pull);
	zmq_ctx_term(ctx);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// cPushPull runs the C loop and returns its elapsed time.
func cPushPull(bind string, size, n int) (time.Duration, error) {
	cs := C.CString(bind)
	defer C.free(unsafe.Pointer(cs))
	ns := int64(C.zg_ceiling(cs, C.int(size), C.int(n)))
	if ns < 0 {
		return 0, fmt.Errorf("libzmq C loop: %w", syscall.Errno(-ns))
	}
	return time.Duration(ns), nil
}
