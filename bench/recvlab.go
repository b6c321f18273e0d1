package bench

// The lab's second half: the receiver's blocking moved off Go's threads
// too. A pthread receives with libzmq's blocking zmq_msg_recv into a ring
// of zmq_msg_t, and the Go side takes frames from the ring, waiting on an
// eventfd in the netpoller only when the ring is empty.

/*
#cgo pkg-config: libzmq
#include "labring.h"

static int zg_lab_recv_full(zg_lab_ring *p) {
	return atomic_load(&p->head) - atomic_load(&p->tail) == p->cap;
}

static void *zg_lab_rpump_run(void *arg) {
	zg_lab_ring *p = arg;
	zmq_msg_t *slots = p->slots;
	uint64_t h = 0;
	for (long long got = 0; got < p->n && !atomic_load(&p->stop); got++) {
		if (h - atomic_load_explicit(&p->tail, memory_order_acquire) == p->cap) {
			zg_lab_pump_sleep(p, zg_lab_recv_full);
			if (atomic_load(&p->stop)) break;
		}
		zmq_msg_t *m = &slots[h % p->cap];
		zmq_msg_init(m);
		if (zmq_msg_recv(m, p->sock, 0) < 0) {
			p->err = zmq_errno();
			zmq_msg_close(m);
			break;
		}
		h++;
		atomic_store_explicit(&p->head, h, memory_order_release);
		if (atomic_load_explicit(&p->go_waits, memory_order_relaxed)) zg_lab_wake_go(p);
	}
	zg_lab_pump_exit(p);
	return NULL;
}

static zg_lab_ring *zg_lab_rpump_new(void *sock, long long n, uint32_t cap, int *err) {
	int tmo = 10000; // a stuck run becomes an error, never a hang
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
	return zg_lab_ring_new(sock, 0, n, cap, sizeof(zmq_msg_t), zg_lab_rpump_run, err);
}

// zg_lab_rpump_take copies up to k frames of at most size bytes into buf
// and returns how many, or -1 once the pump has stopped with none left.
static int zg_lab_rpump_take(zg_lab_ring *p, char *buf, int size, int k) {
	zmq_msg_t *slots = p->slots;
	uint64_t t = atomic_load_explicit(&p->tail, memory_order_relaxed);
	uint64_t avail = atomic_load_explicit(&p->head, memory_order_acquire) - t;
	if (avail == 0) return atomic_load(&p->done) ? -1 : 0;
	if ((uint64_t)k > avail) k = (int)avail;
	for (int i = 0; i < k; i++) {
		zmq_msg_t *m = &slots[(t + i) % p->cap];
		size_t n = zmq_msg_size(m);
		memcpy(buf + (size_t)i * size, zmq_msg_data(m), n < (size_t)size ? n : (size_t)size);
		zmq_msg_close(m);
	}
	atomic_store_explicit(&p->tail, t + k, memory_order_release);
	zg_lab_wake_pump(p);
	return k;
}

static int zg_lab_rpump_must_wait(zg_lab_ring *p) {
	atomic_store(&p->go_waits, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->done) || atomic_load(&p->head) != atomic_load(&p->tail)) {
		atomic_store(&p->go_waits, 0);
		return 0;
	}
	return 1;
}

// zg_lab_rpump_free stops the pump, joins it, drops the frames left in
// the ring and returns the pump's error.
static int zg_lab_rpump_free(zg_lab_ring *p) {
	zg_lab_ring_stop(p);
	zmq_msg_t *slots = p->slots;
	for (uint64_t t = atomic_load(&p->tail); t != atomic_load(&p->head); t++) zmq_msg_close(&slots[t % p->cap]);
	return zg_lab_ring_free(p);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/zmqguard/zmqguard/zmq"
)

// labReceiver takes n+1 frames (the first is the warm-up) from pull
// through a receive pump.
type labReceiver struct {
	p    *C.zg_lab_ring
	wake *os.File
	buf  []byte
	size int
}

func newLabReceiver(pull *zmq.Socket, size, n int) (*labReceiver, error) {
	var cerr C.int
	p := C.zg_lab_rpump_new(cSocket(pull), C.longlong(n+1), labRing, &cerr)
	if p == nil {
		return nil, fmt.Errorf("lab receive pump: %w", syscall.Errno(cerr))
	}
	return &labReceiver{p: p, wake: os.NewFile(uintptr(C.dup(p.go_fd)), "lab-rpump"), buf: make([]byte, msgBatch*max(size, 1)), size: max(size, 1)}, nil
}

// take returns how many frames it took, waiting for at least one.
func (r *labReceiver) take(k int) (int, error) {
	for {
		got := int(C.zg_lab_rpump_take(r.p, (*C.char)(unsafe.Pointer(&r.buf[0])), C.int(r.size), C.int(k)))
		if got < 0 {
			return 0, errors.New("lab receive pump stopped")
		}
		if got > 0 {
			return got, nil
		}
		if C.zg_lab_rpump_must_wait(r.p) != 0 {
			var b [8]byte
			r.wake.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := r.wake.Read(b[:]); err != nil {
				return 0, err
			}
		}
	}
}

func (r *labReceiver) close() error {
	r.wake.Close()
	if e := C.zg_lab_rpump_free(r.p); e != 0 {
		return fmt.Errorf("lab receive pump: %w", syscall.Errno(e))
	}
	return nil
}
