package reliable

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// TestDispatchNeverHandsOverStale races dispatch, handing over a reply to
// attempt 1, against the switch to attempt 2 exactly as
// attemptCorrelated makes it (set the attempt under the lock, then drain
// what slipped in before). After both, the channel may hold nothing or a
// reply to attempt 2, never attempt 1's: that reply would be returned as
// the answer to attempt 2. Each reply's body names its attempt.
//
// dispatch used to check the attempt under the lock and hand the reply
// over after releasing it; a dispatch paused between the two (preempted,
// or descheduled on a loaded machine) then put attempt 1's reply in the
// channel after the switch had drained it. Against that code this test
// failed within the first 6000 rounds on two cores; with the hand-over
// under the lock it cannot happen.
func TestDispatchNeverHandsOverStale(t *testing.T) {
	const clientID, seq = 7, 1
	ep := &endpoint{addr: "race"}
	msg := func(attempt uint32) [][]byte {
		id := wire.RequestID{Client: clientID, Seq: seq, Attempt: attempt}
		return [][]byte{id.AppendFrame(nil, wire.KindReply), {}, {byte('0' + attempt)}}
	}
	first, second := msg(1), msg(2)
	rounds := 50000
	if testing.Short() {
		rounds = 5000
	}
	for i := range rounds {
		c := &Client{clientID: clientID}
		cl := &call{seq: seq, attempt: 1, ep: ep, replies: make(chan reply, 1)}
		c.pending.add(cl)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.dispatch(ep, first, nil)
		}()
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				runtime.Gosched()
			}
			// attemptCorrelated's switch.
			c.mu.Lock()
			cl.attempt = 2
			c.mu.Unlock()
			select {
			case <-cl.replies:
			default:
			}
			c.dispatch(ep, second, nil)
		}()
		wg.Wait()
		select {
		case r := <-cl.replies:
			if string(r.body[0]) != "2" {
				t.Fatalf("round %d: attempt %s's reply was handed to attempt 2", i, r.body[0])
			}
		default:
			t.Fatalf("round %d: attempt 2's reply was not handed over", i)
		}
	}
}

// TestDispatchReturnsTheLeadersOwnReply: the leader's own reply comes
// back from dispatch without a hand-over through its channel; a reply to
// one of its earlier attempts, or from another endpoint, does not, and
// counts as stale.
func TestDispatchReturnsTheLeadersOwnReply(t *testing.T) {
	const clientID, seq = 7, 1
	ep, other := &endpoint{addr: "this"}, &endpoint{addr: "other"}
	msg := func(attempt uint32) [][]byte {
		id := wire.RequestID{Client: clientID, Seq: seq, Attempt: attempt}
		return [][]byte{id.AppendFrame(nil, wire.KindReply), {}, {byte('0' + attempt)}}
	}
	c := &Client{clientID: clientID}
	own := &call{seq: seq, attempt: 2, ep: ep, replies: make(chan reply, 1)}
	c.pending.add(own)

	r, mine := c.dispatch(ep, msg(2), own)
	if !mine || string(r.body[0]) != "2" || r.err != nil {
		t.Fatalf("own reply: mine %v, reply %+v", mine, r)
	}
	if _, mine := c.dispatch(ep, msg(1), own); mine {
		t.Fatal("an earlier attempt's reply was taken for the current one")
	}
	if _, mine := c.dispatch(other, msg(2), own); mine {
		t.Fatal("a reply from another endpoint was taken for the attempt's")
	}
	if len(own.replies) != 0 {
		t.Fatal("a stale reply was handed over")
	}
	if got := c.counters.stale.Load(); got != 2 {
		t.Fatalf("%d stale replies counted, want 2", got)
	}
}

// TestInflightFindsEveryRequest: the requests in flight are found by
// their number whether they sit in the slot for one or in the map, and a
// removed one is gone, in any order of arrival and removal.
func TestInflightFindsEveryRequest(t *testing.T) {
	var f inflight
	calls := make([]*call, 20)
	for i := range calls {
		calls[i] = &call{seq: uint64(i + 1)}
		f.add(calls[i])
	}
	for _, i := range []int{0, 7, 19, 3} {
		f.remove(calls[i])
		calls[i] = nil
	}
	f.add(&call{seq: 100})
	for i, cl := range calls {
		if got := f.get(uint64(i + 1)); got != cl {
			t.Fatalf("seq %d: got %v, want %v", i+1, got, cl)
		}
	}
	if got := f.get(100); got == nil || got.seq != 100 {
		t.Fatalf("seq 100 not found after the slot was freed: %v", got)
	}
	if f.get(1000) != nil {
		t.Fatal("found a request never added")
	}
}

// TestAwaitReplyPrefersAHandedReply: a follower whose reply the leader
// already handed over takes it, even when its wait has ended by then (the
// caller's context cancelled, the peer gone): the request was answered.
// A select over both would pick either at random.
func TestAwaitReplyPrefersAHandedReply(t *testing.T) {
	c := &Client{clientID: 7}
	ep := &endpoint{addr: "this", readTok: make(chan struct{}, 1)} // another goroutine leads
	cl := &call{seq: 1, attempt: 1, ep: ep, listed: true, replies: make(chan reply, 1)}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 200 {
		cl.replies <- reply{kind: wire.KindReply, body: [][]byte{[]byte("ok")}}
		r, err := c.awaitReply(ended, ended, ep, cl, time.Now().Add(time.Hour))
		if err != nil || len(r.body) != 1 || string(r.body[0]) != "ok" {
			t.Fatalf("round %d: got %+v, %v; want the handed reply", i, r, err)
		}
	}
}
