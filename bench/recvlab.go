package bench

// The lab's second half: the receiver's blocking moved off Go's threads
// too. A pthread receives with libzmq's blocking zmq_msg_recv into a ring
// of zmq_msg_t, and the Go side takes frames from the ring, waiting on an
// eventfd in the netpoller only when the ring is empty.

/*
#cgo pkg-config: libzmq
#include <zmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct {
	void *sock;
	uint32_t cap, low;
	long long n;
	_Atomic uint64_t head __attribute__((aligned(64))); // written by the pump
	_Atomic uint64_t tail __attribute__((aligned(64))); // written by Go
	_Atomic int go_waits __attribute__((aligned(64)));
	_Atomic int pump_waits;
	_Atomic int done;
	_Atomic int stop;
	int err;
	int go_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	zmq_msg_t *slots;
} zg_lab_rpump;

static void zg_lab_rwake_go(zg_lab_rpump *p) {
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange(&p->go_waits, 0)) {
		uint64_t one = 1;
		(void)!write(p->go_fd, &one, sizeof one);
	}
}

static void *zg_lab_rpump_run(void *arg) {
	zg_lab_rpump *p = arg;
	uint64_t h = 0;
	for (long long got = 0; got < p->n && !atomic_load(&p->stop); got++) {
		if (h - atomic_load_explicit(&p->tail, memory_order_acquire) == p->cap) {
			pthread_mutex_lock(&p->mu);
			atomic_store(&p->pump_waits, 1);
			while (h - atomic_load(&p->tail) == p->cap && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
			atomic_store(&p->pump_waits, 0);
			pthread_mutex_unlock(&p->mu);
			if (atomic_load(&p->stop)) break;
		}
		zmq_msg_t *m = &p->slots[h % p->cap];
		zmq_msg_init(m);
		if (zmq_msg_recv(m, p->sock, 0) < 0) {
			p->err = zmq_errno();
			zmq_msg_close(m);
			break;
		}
		h++;
		atomic_store_explicit(&p->head, h, memory_order_release);
		if (atomic_load_explicit(&p->go_waits, memory_order_relaxed)) zg_lab_rwake_go(p);
	}
	atomic_store(&p->done, 1);
	atomic_store(&p->go_waits, 1);
	zg_lab_rwake_go(p);
	return NULL;
}

static zg_lab_rpump *zg_lab_rpump_new(void *sock, long long n, uint32_t cap, int *err) {
	int tmo = 10000; // a stuck run becomes an error, never a hang
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
	zg_lab_rpump *p = calloc(1, sizeof *p);
	p->sock = sock; p->n = n; p->cap = cap;
	p->slots = calloc(cap, sizeof(zmq_msg_t));
	p->go_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (p->go_fd < 0 || pthread_create(&p->th, NULL, zg_lab_rpump_run, p) != 0) {
		*err = errno;
		if (p->go_fd >= 0) close(p->go_fd);
		free(p->slots); free(p);
		return NULL;
	}
	return p;
}

// zg_lab_rpump_take copies up to k frames of at most size bytes into buf
// and returns how many, or -1 once the pump has stopped with none left.
static int zg_lab_rpump_take(zg_lab_rpump *p, char *buf, int size, int k) {
	uint64_t t = atomic_load_explicit(&p->tail, memory_order_relaxed);
	uint64_t avail = atomic_load_explicit(&p->head, memory_order_acquire) - t;
	if (avail == 0) return atomic_load(&p->done) ? -1 : 0;
	if ((uint64_t)k > avail) k = (int)avail;
	for (int i = 0; i < k; i++) {
		zmq_msg_t *m = &p->slots[(t + i) % p->cap];
		size_t n = zmq_msg_size(m);
		memcpy(buf + (size_t)i * size, zmq_msg_data(m), n < (size_t)size ? n : (size_t)size);
		zmq_msg_close(m);
	}
	atomic_store_explicit(&p->tail, t + k, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->pump_waits)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return k;
}

static int zg_lab_rpump_must_wait(zg_lab_rpump *p) {
	atomic_store(&p->go_waits, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->done) || atomic_load(&p->head) != atomic_load(&p->tail)) {
		atomic_store(&p->go_waits, 0);
		return 0;
	}
	return 1;
}

static int zg_lab_rpump_free(zg_lab_rpump *p) {
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	for (uint64_t t = atomic_load(&p->tail); t != atomic_load(&p->head); t++) zmq_msg_close(&p->slots[t % p->cap]);
	close(p->go_fd);
	int err = p->err;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->slots);
	free(p);
	return err;
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
	p    *C.zg_lab_rpump
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
