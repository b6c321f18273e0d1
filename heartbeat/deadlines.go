package heartbeat

import "container/heap"

// Each peer sits in up to two deadline heaps, one per slot.
const (
	liveSlot = iota // next time the peer's state may worsen
	pingSlot        // next time a ping to the peer may be due
	numSlots
)

// deadlines is a min-heap of peers ordered by peer.due[slot], in nanoseconds
// since the tracker's epoch. Keys are lower bounds: traffic only moves a
// peer's real deadline later, and the fast paths of Observe and Sent do not
// touch the heap, so a popped deadline is re-checked against the peer's
// timestamps and pushed back when it was too early. A peer popped once per
// interval costs O(log n); a busy peer costs nothing in between.
//
// It is guarded by Tracker.mu (write lock).
type deadlines struct {
	slot  int
	items []*peer
}

func (h *deadlines) Len() int           { return len(h.items) }
func (h *deadlines) Less(i, j int) bool { return h.items[i].due[h.slot] < h.items[j].due[h.slot] }

func (h *deadlines) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].idx[h.slot] = i
	h.items[j].idx[h.slot] = j
}

// Push and Pop implement heap.Interface; use set and remove instead.
func (h *deadlines) Push(x any) {
	p := x.(*peer)
	p.idx[h.slot] = len(h.items)
	h.items = append(h.items, p)
}

func (h *deadlines) Pop() any {
	n := len(h.items) - 1
	p := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	p.idx[h.slot] = -1
	return p
}

// set puts p into the heap with deadline due, or moves it there.
func (h *deadlines) set(p *peer, due int64) {
	p.due[h.slot] = due
	if i := p.idx[h.slot]; i >= 0 {
		heap.Fix(h, i)
		return
	}
	heap.Push(h, p)
}

// remove takes p out of the heap if it is there.
func (h *deadlines) remove(p *peer) {
	if i := p.idx[h.slot]; i >= 0 {
		heap.Remove(h, i)
	}
}

// min returns the peer with the earliest deadline.
func (h *deadlines) min() (*peer, bool) {
	if len(h.items) == 0 {
		return nil, false
	}
	return h.items[0], true
}
