// The lab's ring between Go and a pthread that makes libzmq's blocking
// calls (senderlab.go, recvlab.go): head is written by the producer, tail
// by the consumer, and each side sleeps only after announcing it, Go on
// an eventfd in the netpoller, the pthread on a condition variable.
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
	uint32_t cap, low; // low: the Go side is woken once at most low frames are queued
	int size;
	long long n;
	_Atomic uint64_t head __attribute__((aligned(64)));
	_Atomic uint64_t tail __attribute__((aligned(64)));
	_Atomic int go_waits __attribute__((aligned(64)));
	_Atomic int pump_waits;
	_Atomic int done;
	_Atomic int stop;
	int err;
	int go_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	void *slots;
} zg_lab_ring;

static inline void zg_lab_wake_go(zg_lab_ring *p) {
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange(&p->go_waits, 0)) {
		uint64_t one = 1;
		(void)!write(p->go_fd, &one, sizeof one);
	}
}

// zg_lab_wake_pump wakes the pthread if it sleeps.
static inline void zg_lab_wake_pump(zg_lab_ring *p) {
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->pump_waits)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

// zg_lab_pump_sleep sleeps until blocked(p) is false or the ring stops.
static inline void zg_lab_pump_sleep(zg_lab_ring *p, int (*blocked)(zg_lab_ring *)) {
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->pump_waits, 1);
	while (blocked(p) && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
	atomic_store(&p->pump_waits, 0);
	pthread_mutex_unlock(&p->mu);
}

// zg_lab_pump_exit marks the pthread's end and wakes the Go side.
static inline void zg_lab_pump_exit(zg_lab_ring *p) {
	atomic_store(&p->done, 1);
	atomic_store(&p->go_waits, 1);
	zg_lab_wake_go(p);
}

// zg_lab_ring_new starts run on a ring of cap slots of slot bytes, for n
// frames of size bytes, or returns NULL with *err set.
static inline zg_lab_ring *zg_lab_ring_new(void *sock, int size, long long n, uint32_t cap, size_t slot, void *(*run)(void *), int *err) {
	zg_lab_ring *p = calloc(1, sizeof *p);
	p->sock = sock; p->size = size; p->n = n; p->cap = cap; p->low = cap / 2;
	p->slots = calloc(cap, slot);
	p->go_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (p->go_fd < 0 || pthread_create(&p->th, NULL, run, p) != 0) {
		*err = errno;
		if (p->go_fd >= 0) close(p->go_fd);
		free(p->slots); free(p);
		return NULL;
	}
	return p;
}

// zg_lab_ring_stop stops the pthread and joins it; zg_lab_ring_free then
// frees the ring and returns the pthread's error.
static inline void zg_lab_ring_stop(zg_lab_ring *p) {
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
}

static inline int zg_lab_ring_free(zg_lab_ring *p) {
	int err = p->err;
	close(p->go_fd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->slots);
	free(p);
	return err;
}
