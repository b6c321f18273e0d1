package bench

// A lab, not a design: how fast zmqguard's receiver drains a 16 B stream
// when the sender's blocking moves off Go's threads. The Go sender copies
// frames into a ring in C memory; a pthread sends them with libzmq's
// blocking zmq_send, the way the C loop's sender does, and wakes the Go
// side through an eventfd in the netpoller once the ring is half empty.
// docs/BENCHMARKS.md ("Ninth session") says what it measured and why the
// library does not ship it.

/*
#cgo pkg-config: libzmq
#include "labring.h"

#define ZG_LAB_SLOT 64

static int zg_lab_send_empty(zg_lab_ring *p) {
	return atomic_load(&p->head) == atomic_load(&p->tail);
}

static void *zg_lab_pump_run(void *arg) {
	zg_lab_ring *p = arg;
	const char *slots = p->slots;
	uint64_t t = 0;
	for (long long sent = 0; sent < p->n && !atomic_load(&p->stop);) {
		if (atomic_load_explicit(&p->head, memory_order_acquire) == t) zg_lab_pump_sleep(p, zg_lab_send_empty);
		uint64_t h = atomic_load_explicit(&p->head, memory_order_acquire);
		for (; t != h; t++, sent++) {
			if (zmq_send(p->sock, slots + (t % p->cap) * ZG_LAB_SLOT, p->size, 0) < 0) {
				p->err = zmq_errno();
				goto out;
			}
			if ((t & 31) == 31 || t + 1 == h) {
				atomic_store_explicit(&p->tail, t + 1, memory_order_release);
				if (atomic_load(&p->head) - (t + 1) <= p->low) zg_lab_wake_go(p);
			}
		}
	}
out:
	atomic_store(&p->tail, t);
	zg_lab_pump_exit(p);
	return NULL;
}

// zg_lab_pump_new starts a pump of n frames of size bytes over sock, or
// returns NULL with *err set.
static zg_lab_ring *zg_lab_pump_new(void *sock, int size, long long n, uint32_t cap, int *err) {
	int type = 0;
	size_t len = sizeof type;
	if (zmq_getsockopt(sock, ZMQ_TYPE, &type, &len) != 0 || type != ZMQ_PUSH || size > ZG_LAB_SLOT) {
		*err = EINVAL;
		return NULL;
	}
	int tmo = 10000; // a stuck run becomes an error, never a hang
	zmq_setsockopt(sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
	return zg_lab_ring_new(sock, size, n, cap, ZG_LAB_SLOT, zg_lab_pump_run, err);
}

// zg_lab_pump_put queues up to k frames from buf (k*size bytes); it
// returns how many, or -1 once the pump has stopped.
static int zg_lab_pump_put(zg_lab_ring *p, const char *buf, int k) {
	if (atomic_load(&p->done)) return -1;
	char *slots = p->slots;
	uint64_t h = atomic_load_explicit(&p->head, memory_order_relaxed);
	uint32_t room = p->cap - (uint32_t)(h - atomic_load_explicit(&p->tail, memory_order_acquire));
	if ((uint32_t)k > room) k = room;
	for (int i = 0; i < k; i++)
		memcpy(slots + ((h + i) % p->cap) * ZG_LAB_SLOT, buf + (size_t)i * p->size, p->size);
	atomic_store_explicit(&p->head, h + k, memory_order_release);
	if (k > 0) zg_lab_wake_pump(p);
	return k;
}

// zg_lab_pump_must_wait announces a wait on go_fd and says whether it is
// still needed: room at the low mark (or, with all, an empty ring), or a
// stopped pump, end it.
static int zg_lab_pump_must_wait(zg_lab_ring *p, int all) {
	atomic_store(&p->go_waits, 1);
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t queued = atomic_load(&p->head) - atomic_load(&p->tail);
	if (atomic_load(&p->done) || queued == 0 || (!all && queued <= p->low)) {
		atomic_store(&p->go_waits, 0);
		return 0;
	}
	return 1;
}

// zg_lab_pump_free stops the pump, joins it and returns its error.
static int zg_lab_pump_free(zg_lab_ring *p) {
	zg_lab_ring_stop(p);
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

// labRing is the lab pump's ring, in frames: 256 measured no faster
// than zmqguard's own sender, 1024 to 16384 alike.
const labRing = 1024

// cSocket is the libzmq socket under s. pebbe/zmq4 keeps no accessor; its
// Socket starts with the C pointer, and zg_lab_pump_new checks the type.
func cSocket(s *zmq.Socket) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(s.Raw()))
}

// measurePumpStream is measureMsgStream with the sender's sends made by a
// pthread: n frames of size bytes, received with RecvMsgs in batches.
// With recvPump, a second pthread receives too (recvlab.go).
func measurePumpStream(push, pull *zmq.Socket, closeAll func(), size, n int, recvPump bool) (map[string]float64, error) {
	defer closeAll()
	in := make([]zmq.Msg, msgBatch)
	defer func() {
		for i := range in {
			in[i].Close()
		}
	}()
	for i := range in {
		in[i].SetBytes(nil)
	}
	// A pump that stops early leaves the receive to its timeout.
	if err := pull.SetRcvtimeo(10 * time.Second); err != nil {
		return nil, err
	}
	var cerr C.int
	// One frame more than counted: the warm-up.
	p := C.zg_lab_pump_new(cSocket(push), C.int(size), C.longlong(n+1), labRing, &cerr)
	if p == nil {
		return nil, fmt.Errorf("lab pump: %w", syscall.Errno(cerr))
	}
	var rp *labReceiver
	if recvPump {
		var err error
		if rp, err = newLabReceiver(pull, size, n); err != nil {
			C.zg_lab_pump_free(p)
			return nil, err
		}
	}
	recv := func(k int) (int, error) {
		if rp != nil {
			return rp.take(k)
		}
		return pull.RecvMsgs(in[:k], 0)
	}
	wake := os.NewFile(uintptr(C.dup(p.go_fd)), "lab-pump")
	defer wake.Close()
	wait := func(all bool) error {
		flag := C.int(0)
		if all {
			flag = 1
		}
		for C.zg_lab_pump_must_wait(p, flag) != 0 {
			var b [8]byte
			wake.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := wake.Read(b[:]); err != nil {
				return err
			}
		}
		return nil
	}
	put := func(batch []byte, k int) error {
		for done := 0; done < k; {
			got := int(C.zg_lab_pump_put(p, (*C.char)(unsafe.Pointer(&batch[done*size])), C.int(k-done)))
			if got < 0 {
				return errors.New("lab pump stopped")
			}
			if done += got; done < k {
				if err := wait(false); err != nil {
					return err
				}
			}
		}
		return nil
	}
	body := make([]byte, size)
	batch := make([]byte, msgBatch*max(size, 1))
	finish := func(err error) error {
		if werr := wait(true); err == nil {
			err = werr
		}
		if e := C.zg_lab_pump_free(p); e != 0 && err == nil {
			err = fmt.Errorf("lab pump: %w", syscall.Errno(e))
		}
		if rp != nil {
			if rerr := rp.close(); err == nil {
				err = rerr
			}
		}
		return err
	}
	if err := put(batch, 1); err != nil {
		return nil, finish(err)
	}
	if _, err := recv(1); err != nil {
		return nil, finish(err)
	}
	res, err := timeStream(n, msgBatch, func(k int) error {
		for i := range k {
			copy(batch[i*size:], body)
		}
		return put(batch, k) // bounded: its waits end after 10 s
	}, recv, nil)
	if err = finish(err); err != nil {
		return nil, err
	}
	return res, nil
}

// LabRows are experiments kept runnable (zgbench -lab), not part of the
// suite: the sender-thread lab over every transport at 16 B, alone, with
// a receiving pthread too, and the receiving pthread alone, beside the C
// loop, the shipped batch path, and Go blocked in libzmq with no bound
// (blocklab.go).
func LabRows() []Row {
	var rows []Row
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		const size = 16
		count := func(cfg *Config) int { return cfg.n(200000, 8000) }
		pairOf := func(run func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error)) func(cfg *Config) (map[string]float64, error) {
			return func(cfg *Config) (map[string]float64, error) {
				pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
				if err != nil {
					return nil, err
				}
				return run(push, pull, cl, count(cfg))
			}
		}
		rows = append(rows, Row{
			Name:     fmt.Sprintf("lab/sender-thread/%s/16B", tr),
			Note:     "PUSH->PULL at 16 B: zmqguard's batch receiver with the sends made by a pthread fed from a ring, then with the receives made by a second pthread too, and by that pthread alone; Go blocked in libzmq on both sides (the cgo ceiling) and on one side only; beside the shipped batch path, against the C loop",
			Metrics:  []Metric{{"msgs/s", true, 0}},
			Baseline: "C libzmq (ceiling)",
			Variants: []Variant{
				{"C libzmq (ceiling)", func(cfg *Config) (map[string]float64, error) { return cCeiling(tr, size, count(cfg)) }},
				{"zmqguard Msg batches, RecvMsgs/SendMsgs", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					return measureMsgStream(push, pull, cl, size, n, msgBatch)
				})},
				{"zmqguard RecvMsgs, sends by a pthread", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					return measurePumpStream(push, pull, cl, size, n, false)
				})},
				{"zmqguard, sends and receives by pthreads", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					return measurePumpStream(push, pull, cl, size, n, true)
				})},
				{"Go blocked in libzmq, no bound (cgo ceiling)", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					return measureBlockedStream(push, pull, cl, size, n)
				})},
				{"Go blocked in libzmq sends, zmqguard RecvMsgs", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					return measureHalfBlocked(push, pull, cl, size, n, true)
				})},
				{"zmqguard SendMsgs, Go blocked in libzmq receives", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					return measureHalfBlocked(push, pull, cl, size, n, false)
				})},
				{"zmqguard SendMsgs, receives by a pthread", pairOf(func(push, pull *zmq.Socket, cl func(), n int) (map[string]float64, error) {
					rp, err := newLabReceiver(pull, size, n)
					if err != nil {
						cl()
						return nil, err
					}
					var rerr error
					res, err := measureMsgStreamTo(push, pull, func() { rerr = rp.close(); cl() }, size, n, msgBatch, rp.take)
					if err == nil {
						err = rerr
					}
					return res, err
				})},
			},
		})
	}
	return rows
}
