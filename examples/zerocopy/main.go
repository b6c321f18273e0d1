// Command zerocopy shows zmqguard's message API, where the application
// controls a message's memory: a relay that forwards large frames without
// ever copying them into Go, a sender that hands its own buffer to libzmq
// and learns when libzmq is done with it, a receive into a buffer the
// application owns (with truncation reported), a per-socket allocator that
// receives every body into a pool, and batches of small frames moved with
// one call into libzmq each.
//
// Run it with `(cd examples && go run ./zerocopy)`.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "zerocopy:", err)
		os.Exit(1)
	}
}

// pipe returns a bound PULL and a PUSH connected to it over inproc.
func pipe(zctx *zmq.Context, name string) (pull, push *zmq.Socket) {
	pull, err := zctx.NewSocket(zmq.PULL)
	check(err)
	check(pull.Bind("inproc://" + name))
	check(pull.SetRcvtimeo(5 * time.Second)) // nothing here may hang
	push, err = zctx.NewSocket(zmq.PUSH)
	check(err)
	check(push.Connect("inproc://" + name))
	return pull, push
}

// mallocs is the number of Go heap allocations so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func main() {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	// 1. A relay: receive into a Msg (a view of libzmq's message, no
	// copy) and send the same Msg on (libzmq takes it over, no copy).
	fmt.Println("1. relay 1 MiB frames without copying them into Go")
	in, src := pipe(zctx, "relay-in")
	sink, out := pipe(zctx, "relay-out")
	big := bytes.Repeat([]byte("z"), 1<<20)
	const frames = 20
	go func() {
		for range frames + 1 {
			if _, err := src.SendBytes(big, 0); err != nil {
				return
			}
		}
	}()
	var m zmq.Msg
	var got zmq.Msg
	// The first frame sets the Msgs and the sockets' waits up.
	check(in.RecvMsg(&m, 0))
	check(out.SendMsg(&m, 0))
	check(sink.RecvMsg(&got, 0))
	m0 := mallocs()
	for range frames {
		check(in.RecvMsg(&m, 0))
		if !m.IsView() || m.Len() != len(big) {
			check(errors.New("expected a 1 MiB view"))
		}
		check(out.SendMsg(&m, 0))
	}
	for range frames {
		check(sink.RecvMsg(&got, 0))
	}
	relayAllocs := mallocs() - m0
	fmt.Printf("   relayed %d frames of %d bytes, last one intact: %v\n", frames, got.Len(), bytes.Equal(got.Bytes(), big))
	fmt.Printf("   Go allocations per relayed frame: %.1f\n", float64(relayAllocs)/frames)
	check(got.Close())
	check(m.Close())
	err = m.Close()
	fmt.Printf("   a second Close: %v (errors.Is ErrMsgClosed: %v)\n", err, errors.Is(err, zmq.ErrMsgClosed))

	// 2. A send without a copy: the buffer stays the application's, and
	// must not change until libzmq says it is done with it.
	fmt.Println("2. send a buffer without a copy, and know when it is free again")
	buf := bytes.Repeat([]byte("p"), 256<<10)
	tracker, err := src.SendNoCopy(buf, 0)
	check(err)
	var view zmq.Msg
	check(in.RecvMsg(&view, 0))
	fmt.Printf("   received %d bytes; the sender's buffer is still in use: %v\n", view.Len(), !done(tracker))
	check(view.Close()) // over inproc, the receiver held the very buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	check(tracker.Wait(ctx))
	fmt.Println("   after the receiver let go, the tracker is done: the buffer may be reused")

	// 3. Receive into the application's own buffer.
	fmt.Println("3. receive into a buffer the application owns")
	_, err = src.SendMessage("fits", "this frame is longer than sixteen bytes")
	check(err)
	small := make([]byte, 16)
	n, more, err := in.RecvInto(small, 0)
	check(err)
	fmt.Printf("   %q, more frames follow: %v\n", small[:n], more)
	n, _, err = in.RecvInto(small, 0)
	var te *zmq.TruncatedError
	fmt.Printf("   %q, truncated: %v (the frame had %d bytes)\n", small[:n], errors.As(err, &te), sizeOf(te))

	// 4. A per-socket allocator: every body this socket receives as a
	// []byte comes from the application's pool.
	fmt.Println("4. every received body from the application's pool")
	pool := newPool(4096)
	check(in.SetRecvAllocator(pool.get))
	_, err = src.SendMessage("header", bytes.Repeat([]byte("b"), 3000))
	check(err)
	msg, err := in.RecvMessageBytes(0)
	check(err)
	fmt.Printf("   received %d frames; bodies from the pool: %d\n", len(msg), pool.given)
	for _, b := range msg {
		pool.put(b)
	}

	// 5. Batches: many small frames per call into libzmq.
	fmt.Println("5. batches of small frames, one call into libzmq each way")
	const batch = 64
	outMsgs := make([]zmq.Msg, batch)
	inMsgs := make([]zmq.Msg, batch)
	for i := range outMsgs {
		check(outMsgs[i].SetBytes([]byte(fmt.Sprintf("event %02d", i))))
	}
	sent, err := src.SendMsgs(outMsgs, 0)
	check(err)
	received := 0
	var last string
	for received < sent {
		k, err := in.RecvMsgs(inMsgs, 0)
		check(err)
		received += k
		last = string(inMsgs[k-1].Bytes())
	}
	fmt.Printf("   sent %d, received %d, last %q\n", sent, received, last)
	for i := range outMsgs {
		outMsgs[i].Close()
		inMsgs[i].Close()
	}

	for _, s := range []*zmq.Socket{in, src, sink, out} {
		check(s.Close())
	}
	fmt.Println("done")
}

func done(t *zmq.Tracker) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

func sizeOf(te *zmq.TruncatedError) int {
	if te == nil {
		return 0
	}
	return te.Size
}

// pool is a minimal pool of fixed-size buffers for the allocator.
type pool struct {
	size  int
	free  [][]byte
	given int
}

func newPool(size int) *pool { return &pool{size: size} }

// get returns a buffer for a body of n bytes (a new one if n is too big).
func (p *pool) get(n int) []byte {
	p.given++
	if n > p.size {
		return make([]byte, n)
	}
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		return b[:n]
	}
	return make([]byte, n, p.size)
}

// put gives a buffer back.
func (p *pool) put(b []byte) {
	if cap(b) == p.size {
		p.free = append(p.free, b[:0])
	}
}
