package bench

// A lab bound, not a design: Go goroutines that block in libzmq with no
// bound at all, each batch one call into C, frames straight from a C
// buffer. It keeps what any cgo design pays on this machine (Go's threads,
// the runtime's sysmon, a call into C per batch) and drops everything the
// no-hang promises add (parking, the hot wait's bound and yield, per-frame
// Msgs). measureHalfBlocked keeps it on one side only. docs/BENCHMARKS.md
// ("Eleventh session", "Thirteenth session") says what they measured.

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
	buf := (*C.char)(C.calloc(1, C.size_t(max(size, 1))))
	defer C.free(unsafe.Pointer(buf))
	return warmThenTime(n, blockedSend(push, buf, size), blockedRecv(pull))
}

// measureHalfBlocked is measureBlockedStream with one side only blocked in
// libzmq (the sender when blockSend, else the receiver) and the other
// zmqguard's batch path (SendMsgs or RecvMsgs), to tell which side's wait
// separates the shipped path from the ceiling. Only the blocked side gets
// a timeout: one on the other would give its waits a timer each.
func measureHalfBlocked(push, pull *zmq.Socket, closeAll func(), size, n int, blockSend bool) (map[string]float64, error) {
	if !blockSend {
		if err := pull.SetRcvtimeo(10 * time.Second); err != nil {
			closeAll()
			return nil, err
		}
		// The suite's sender; a failed receive closes the pair, which
		// ends that sender (it has no timeout).
		return measureMsgStreamTo(push, pull, closeAll, size, n, msgBatch, blockedRecv(pull))
	}
	defer closeAll()
	if err := push.SetSndtimeo(10 * time.Second); err != nil {
		return nil, err
	}
	ms := make([]zmq.Msg, msgBatch)
	defer func() {
		for i := range ms {
			ms[i].Close()
		}
	}()
	for i := range ms {
		ms[i].SetBytes(nil) // C memory before the clock starts
	}
	buf := (*C.char)(C.calloc(1, C.size_t(max(size, 1))))
	defer C.free(unsafe.Pointer(buf))
	// No unblock: closing the pair under the blocked sender is not safe,
	// and its timeout ends it.
	return warmThenTime(n, blockedSend(push, buf, size), func(k int) (int, error) {
		return pull.RecvMsgs(ms[:k], 0)
	})
}

// blockedSend sends k frames of size bytes from buf, blocked in libzmq.
func blockedSend(push *zmq.Socket, buf *C.char, size int) func(k int) error {
	h := C.uintptr_t(uintptr(cSocket(push)))
	return func(k int) error {
		if e := C.zg_ceiling_send(h, buf, C.int(size), C.int(k)); e != 0 {
			return fmt.Errorf("ceiling send: %w", syscall.Errno(e))
		}
		return nil
	}
}

// blockedRecv receives up to k frames, blocked in libzmq for the first.
func blockedRecv(pull *zmq.Socket) func(k int) (int, error) {
	h := C.uintptr_t(uintptr(cSocket(pull)))
	return func(k int) (int, error) {
		got := int(C.zg_ceiling_recv(h, C.int(k)))
		if got < 0 {
			return 0, fmt.Errorf("ceiling recv: %w", syscall.Errno(-got))
		}
		return got, nil
	}
}

// warmThenTime moves one frame through the pair, then times n in batches
// of msgBatch. The sockets' timeouts bound the calls blocked in libzmq.
func warmThenTime(n int, send func(k int) error, recv func(k int) (int, error)) (map[string]float64, error) {
	if err := send(1); err != nil {
		return nil, err
	}
	if _, err := recv(1); err != nil {
		return nil, err
	}
	return timeStream(n, msgBatch, send, recv, nil)
}
