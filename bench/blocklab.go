package bench

// A lab bound, not a design: Go goroutines that block in libzmq with no
// bound at all, each batch one call into C, frames straight from a C
// buffer. It keeps what any cgo design pays on this machine (Go's threads,
// the runtime's sysmon, a call into C per batch) and drops everything the
// no-hang promises add (parking, the hot wait's bound and yield, per-frame
// Msgs). docs/BENCHMARKS.md ("Eleventh session") says what it measured.

/*
#cgo pkg-config: libzmq
#include <zmq.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

// zg_ceiling_send sends n frames of size bytes from buf, blocking; Go's
// preemption signal (EINTR) is retried. It returns the errno, or 0.
static int zg_ceiling_send(uintptr_t sock, const char *buf, int size, int n) {
	for (int i = 0; i < n; i++) {
		while (zmq_send((void *)sock, buf, size, 0) < 0) {
			if (zmq_errno() != EINTR) return zmq_errno();
		}
	}
	return 0;
}

// zg_ceiling_recv blocks for one frame and takes up to max-1 more that are
// queued, into one reused message. It returns how many, or -errno.
static int zg_ceiling_recv(uintptr_t sock, int max) {
	zmq_msg_t m;
	zmq_msg_init(&m);
	int i = 0;
	for (; i < max; i++) {
		int rc;
		while ((rc = zmq_msg_recv(&m, (void *)sock, i == 0 ? 0 : ZMQ_DONTWAIT)) < 0 && i == 0 && zmq_errno() == EINTR) {
		}
		if (rc < 0) {
			if (i == 0) i = -zmq_errno();
			break;
		}
	}
	zmq_msg_close(&m);
	return i;
}
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"github.com/zmqguard/zmqguard/zmq"
)

// measureBlockedStream moves n frames of size bytes from push to pull,
// each side a goroutine blocked in libzmq for a batch of msgBatch frames
// per call. Both sockets get 10 s timeouts: a stuck run fails, it does
// not hang.
func measureBlockedStream(push, pull *zmq.Socket, closeAll func(), size, n int) (map[string]float64, error) {
	defer closeAll()
	for _, set := range []func(time.Duration) error{push.SetSndtimeo, pull.SetRcvtimeo} {
		if err := set(10 * time.Second); err != nil {
			return nil, err
		}
	}
	sh := C.uintptr_t(uintptr(cSocket(push)))
	rh := C.uintptr_t(uintptr(cSocket(pull)))
	buf := (*C.char)(C.calloc(1, C.size_t(max(size, 1))))
	defer C.free(unsafe.Pointer(buf))
	send := func(k int) error {
		if e := C.zg_ceiling_send(sh, buf, C.int(size), C.int(k)); e != 0 {
			return fmt.Errorf("ceiling send: %w", syscall.Errno(e))
		}
		return nil
	}
	recv := func(k int) (int, error) {
		got := int(C.zg_ceiling_recv(rh, C.int(k)))
		if got < 0 {
			return 0, fmt.Errorf("ceiling recv: %w", syscall.Errno(-got))
		}
		return got, nil
	}
	if err := send(1); err != nil {
		return nil, err
	}
	if _, err := recv(1); err != nil {
		return nil, err
	}
	return timeStream(n, msgBatch, send, recv, nil) // SNDTIMEO bounds the sends
}
