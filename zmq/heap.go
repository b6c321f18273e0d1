package zmq

import "github.com/zmqguard/zmqguard/internal/engine"

// HeapInUse returns the bytes the C allocator has handed out and not yet
// taken back (less the idle send buffers, SendPoolBytes), and whether it
// could tell (glibc 2.33 or later; not musl, not macOS). In a Go program
// nearly all of it is libzmq's: the messages it has read and not yet
// handed out, the messages queued to be sent, its pipes and buffers.
// Unlike the process's RSS it drops as soon as libzmq frees memory, and
// it leaves out the Go heap. It walks the allocator's arenas under their
// locks: call it every few milliseconds at most.
func HeapInUse() (bytes int64, ok bool) { return engine.HeapInUse() }

// SendPoolBytes bounds the idle buffers of sent frames (16 KiB to 1 MiB)
// that the process keeps for the next ones: memory it may hold beyond
// what its sockets hold. HeapInUse leaves them out.
const SendPoolBytes = engine.SendPoolBytes
