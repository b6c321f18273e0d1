package reliable

import (
	"sync"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// call is a request waiting for its reply.
type call struct {
	seq     uint64
	attempt uint32    // the attempt whose reply is accepted; guarded by Client.mu once listed
	ep      *endpoint // the endpoint of that attempt; guarded by Client.mu once listed
	// listed says the call is in Client.pending, where another request
	// reading the socket finds it to hand its reply over. Only the
	// requester reads it; it sets it under Client.mu.
	listed  bool
	replies chan reply
	// idFrame holds the ID frame of the attempt being sent. It is an
	// allocation of its own: cgo refuses a pointer into memory that also
	// holds Go pointers.
	idFrame []byte
	msg     [][]byte // the attempt's frames
}

// inflight is the correlated requests in flight, by Seq: a slot for one
// (the common case: a map's insert and delete cost more than anything
// else of a request's bookkeeping) and a map for the others. It is
// guarded by Client.mu.
type inflight struct {
	one  *call
	more map[uint64]*call
}

func (f *inflight) add(cl *call) {
	if f.one == nil {
		f.one = cl
		return
	}
	if f.more == nil {
		f.more = make(map[uint64]*call)
	}
	f.more[cl.seq] = cl
}

func (f *inflight) remove(cl *call) {
	if f.one == cl {
		f.one = nil
		return
	}
	if f.more[cl.seq] == cl {
		delete(f.more, cl.seq)
	}
}

func (f *inflight) get(seq uint64) *call {
	if f.one != nil && f.one.seq == seq {
		return f.one
	}
	return f.more[seq]
}

// calls recycles calls: a request otherwise allocates four times for its
// bookkeeping alone.
var calls = sync.Pool{New: func() any {
	return &call{replies: make(chan reply, 1), idFrame: make([]byte, 0, wire.IDFrameLen)}
}}

// newCall returns a call for request seq.
func newCall(seq uint64) *call {
	cl := calls.Get().(*call)
	cl.seq = seq
	return cl
}

// free recycles cl, once nothing can reach it: out of Client.pending, so
// that no reply can be handed to it (dispatch looks it up there).
func (cl *call) free() {
	select {
	case <-cl.replies: // a duplicate that came after the reply
	default:
	}
	clear(cl.msg) // the application's frames
	cl.seq, cl.attempt, cl.ep, cl.listed, cl.msg = 0, 0, nil, false, cl.msg[:0]
	calls.Put(cl)
}

type reply struct {
	kind wire.Kind
	body [][]byte
	err  error // the reply is not acceptable (checkReply): the attempt fails with err
}
