package engine

/*
#include <zmq.h>
#include <errno.h>
static int zg_ctx_shutdown(void *c) { return zmq_ctx_shutdown(c); }
// zg_ctx_term terminates c, retrying on EINTR; it returns 0 or the errno.
static int zg_ctx_term(void *c) {
	int rc;
	do {
		rc = zmq_ctx_term(c);
	} while (rc != 0 && zmq_errno() == EINTR);
	return rc == 0 ? 0 : zmq_errno();
}
*/
import "C"

import (
	"reflect"
	"syscall"
	"unsafe"

	zmq4 "github.com/pebbe/zmq4"
)

// directContexts records whether the libzmq context handle is the first
// field of zmq4.Context for the pebbe/zmq4 we were built with (as
// directHandles does for sockets).
var directContexts = func() bool {
	f, ok := reflect.TypeOf(zmq4.Context{}).FieldByName("ctx")
	return ok && f.Offset == 0 && f.Type == reflect.TypeOf(unsafe.Pointer(nil))
}()

func contextHandle(raw *zmq4.Context) unsafe.Pointer {
	if !directContexts {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(raw))
}

// ShutdownContext makes every call blocked inside libzmq on raw's sockets
// (zmq_poll, zmq_proxy) return ETERM. Without the handle it does nothing.
func ShutdownContext(raw *zmq4.Context) {
	if h := contextHandle(raw); h != nil {
		C.zg_ctx_shutdown(h)
	}
}

// TermContext terminates raw, retrying EINTR; it blocks until libzmq has
// closed every socket of the context. The error is the public errno.
func TermContext(raw *zmq4.Context) error {
	h := contextHandle(raw)
	if h == nil {
		// pebbe's Term marks the context closed before it calls
		// zmq_ctx_term, so calling it again after EINTR only returns the
		// stored EINTR: let pebbe retry inside its one call.
		raw.SetRetryAfterEINTR(true)
		return errno(rawErrno(raw.Term()))
	}
	// Terminate in C with an EINTR loop of our own: switching pebbe's
	// retry setting here would race with pebbe-based code still blocked
	// on the context. The pebbe Context is left "open" in pebbe's eyes;
	// zmqguard never calls its Term.
	if e := C.zg_ctx_term(h); e != 0 {
		return errs.Errno(syscall.Errno(e))
	}
	return nil
}
