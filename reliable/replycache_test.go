package reliable

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

func body(s string) [][]byte { return [][]byte{[]byte(s)} }

func TestReplyCacheWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newReplyCache(10*time.Second, 100, 1<<20)
	k := wire.RequestKey{Client: 1, Seq: 1}
	c.put(k, wire.KindReply, body("r"), t0)
	e, ok := c.get(k, t0.Add(9*time.Second))
	require.True(t, ok)
	assert.Equal(t, wire.KindReply, e.kind)
	assert.Equal(t, body("r"), e.body)
	_, ok = c.get(k, t0.Add(10*time.Second))
	assert.False(t, ok, "expired at the end of the window")
	assert.Zero(t, c.len())
	assert.Zero(t, c.size())
}

func TestReplyCacheEvictsOldestByCount(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newReplyCache(time.Minute, 3, 1<<20)
	evicted := 0
	for i := range 5 {
		evicted += c.put(wire.RequestKey{Client: 1, Seq: uint64(i)}, wire.KindReply, body("x"), t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.Equal(t, 2, evicted)
	assert.Equal(t, 3, c.len())
	for i := range 5 {
		_, ok := c.get(wire.RequestKey{Client: 1, Seq: uint64(i)}, t0.Add(time.Second))
		assert.Equal(t, i >= 2, ok, "seq %d", i)
	}
}

func TestReplyCacheEvictsByBytes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	one := entrySize(body("0123456789"))
	c := newReplyCache(time.Minute, 100, 3*one)
	for i := range 4 {
		c.put(wire.RequestKey{Seq: uint64(i)}, wire.KindReply, body("0123456789"), t0)
	}
	assert.Equal(t, 3, c.len())
	assert.Equal(t, 3*one, c.size())
	assert.False(t, c.contains(wire.RequestKey{Seq: 0}))

	// A reply bigger than the whole cache is not kept, and evicts nothing.
	assert.Equal(t, 1, c.put(wire.RequestKey{Seq: 99}, wire.KindReply, [][]byte{make([]byte, 4*one)}, t0))
	assert.False(t, c.contains(wire.RequestKey{Seq: 99}))
	assert.Equal(t, 3, c.len())
}

func TestReplyCacheReplaceAndExpiryOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newReplyCache(10*time.Second, 100, 1<<20)
	a, b := wire.RequestKey{Seq: 1}, wire.RequestKey{Seq: 2}
	c.put(a, wire.KindError, body("timeout"), t0)
	c.put(b, wire.KindReply, body("b"), t0.Add(time.Second))
	// Replacing a (a late result) moves it to the back with a new window.
	c.put(a, wire.KindReply, body("late"), t0.Add(5*time.Second))
	c.expire(t0.Add(11 * time.Second))
	assert.False(t, c.contains(b))
	e, ok := c.get(a, t0.Add(11*time.Second))
	require.True(t, ok)
	assert.Equal(t, body("late"), e.body)
	assert.Equal(t, entrySize(body("late")), c.size())
}

func TestReplyCacheDisabled(t *testing.T) {
	for _, c := range []*replyCache{
		newReplyCache(0, 10, 10<<10), newReplyCache(time.Second, 0, 10<<10), newReplyCache(time.Second, 10, 0),
	} {
		assert.Zero(t, c.put(wire.RequestKey{Seq: 1}, wire.KindReply, body("x"), time.Now()))
		assert.Zero(t, c.len())
	}
}

func TestReplyCacheStaysBounded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newReplyCache(time.Hour, 1000, 64<<10)
	for i := range 100000 {
		c.put(wire.RequestKey{Client: uint64(i % 7), Seq: uint64(i)}, wire.KindReply, body(fmt.Sprint(i)), t0.Add(time.Duration(i)))
		if c.len() > 1000 || c.size() > 64<<10 {
			t.Fatalf("cache over its bounds after %d puts: %d entries, %d bytes", i, c.len(), c.size())
		}
	}
	// The list and the map agree.
	n := 0
	for e := range c.order.All() {
		n++
		assert.Same(t, e, c.entries[e.key])
	}
	assert.Equal(t, c.len(), n)
	assert.Equal(t, c.len(), c.order.Len())
}

// TestReplyCacheAccountingMatchesHeap checks that the bytes the cache
// accounts for are close to what it really holds on the Go heap, for small
// replies (where the fixed overheads dominate) and larger ones.
func TestReplyCacheAccountingMatchesHeap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames []int
	}{
		{"tiny", []int{5, 1}},
		{"small", []int{64}},
		{"medium", []int{1000, 10, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20000
			bodies := make([][][]byte, n)
			for i := range bodies {
				for _, l := range tc.frames {
					bodies[i] = append(bodies[i], make([]byte, l))
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c := newReplyCache(time.Hour, n, 1<<40)
			t0 := time.Now()
			for i, b := range bodies {
				c.put(wire.RequestKey{Client: 1, Seq: uint64(i)}, wire.KindReply, b, t0)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			ratio := float64(held) / float64(c.size())
			t.Logf("%d entries: accounted %d KiB, heap %d KiB (ratio %.2f)", n, c.size()>>10, held>>10, ratio)
			assert.InDelta(t, 1.0, ratio, 0.35, "accounting off by more than 35%%")
			runtime.KeepAlive(c)
			runtime.KeepAlive(bodies)
		})
	}
}
