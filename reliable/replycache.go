package reliable

import (
	"time"

	"github.com/zmqguard/zmqguard/internal/list"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// Size accounting of the reply cache: what an entry costs besides its
// bytes (the entry with its list links, its map slot, allocation
// rounding), and what each frame costs (a slice header). Measured against
// the Go heap in TestReplyCacheAccountingMatchesHeap.
const (
	cacheEntryOverhead = 160
	cacheFrameOverhead = 24
)

// replyCache keeps the replies of completed requests for a window, so that
// a retry is answered without running the handler again. It is bounded by
// count and by bytes; entries leave oldest first, whether they expire or
// are evicted to make room. It is a pure data structure: time is passed
// in, and it is not safe for concurrent use (the serve loop owns it).
type replyCache struct {
	window     time.Duration
	maxEntries int
	maxBytes   int64

	entries map[wire.RequestKey]*cacheEntry
	order   *list.List[cacheEntry] // oldest first
	bytes   int64
}

// cacheEntry is one cached reply.
type cacheEntry struct {
	key     wire.RequestKey
	kind    wire.Kind // KindReply or KindError
	body    [][]byte
	size    int64
	expires time.Time
	links   list.Links[cacheEntry]
}

func entryLinks(e *cacheEntry) *list.Links[cacheEntry] { return &e.links }

// newReplyCache returns a cache; it is disabled (keeps nothing) when any
// bound is zero.
func newReplyCache(window time.Duration, maxEntries int, maxBytes int64) *replyCache {
	return &replyCache{window: window, maxEntries: maxEntries, maxBytes: maxBytes,
		entries: make(map[wire.RequestKey]*cacheEntry), order: list.New(entryLinks)}
}

func (c *replyCache) enabled() bool {
	return c.window > 0 && c.maxEntries > 0 && c.maxBytes > 0
}

// len and size report the number of entries and their accounted bytes.
func (c *replyCache) len() int    { return len(c.entries) }
func (c *replyCache) size() int64 { return c.bytes }
func entrySize(body [][]byte) int64 {
	n := int64(cacheEntryOverhead)
	for _, f := range body {
		n += int64(len(f)) + cacheFrameOverhead
	}
	return n
}

// get returns the live entry for key. An expired entry is removed.
func (c *replyCache) get(key wire.RequestKey, now time.Time) (*cacheEntry, bool) {
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.remove(e)
		return nil, false
	}
	return e, true
}

// contains reports whether key has an entry, live or not yet expired out.
func (c *replyCache) contains(key wire.RequestKey) bool {
	_, ok := c.entries[key]
	return ok
}

// put stores a reply, replacing an earlier one for the same key, expiring
// what is due and evicting oldest-first to stay within the bounds. It
// returns how many live entries were evicted early, counting the new
// reply itself when it is too big to keep at all.
func (c *replyCache) put(key wire.RequestKey, kind wire.Kind, body [][]byte, now time.Time) (evicted int) {
	if !c.enabled() {
		return 0
	}
	if old, ok := c.entries[key]; ok {
		c.remove(old)
	}
	c.expire(now)
	size := entrySize(body)
	if size > c.maxBytes {
		return 1
	}
	for oldest := c.order.Front(); oldest != nil && (len(c.entries) >= c.maxEntries || c.bytes+size > c.maxBytes); oldest = c.order.Front() {
		c.remove(oldest)
		evicted++
	}
	e := &cacheEntry{key: key, kind: kind, body: compact(body), size: size, expires: now.Add(c.window)}
	c.entries[key] = e
	c.bytes += size
	c.order.PushBack(e)
	return evicted
}

// compact copies body into one allocation, so that the entry holds
// exactly the bytes it accounts for: a reply's frames may share memory
// with the request message they were sliced from.
func compact(body [][]byte) [][]byte {
	n := 0
	for _, f := range body {
		n += len(f)
	}
	buf := make([]byte, n)
	out := make([][]byte, len(body))
	off := 0
	for i, f := range body {
		out[i] = buf[off : off+len(f) : off+len(f)]
		copy(out[i], f)
		off += len(f)
	}
	return out
}

// expire removes the entries whose window has passed.
func (c *replyCache) expire(now time.Time) {
	for oldest := c.order.Front(); oldest != nil && !now.Before(oldest.expires); oldest = c.order.Front() {
		c.remove(oldest)
	}
}

func (c *replyCache) remove(e *cacheEntry) {
	delete(c.entries, e.key)
	c.bytes -= e.size
	c.order.Remove(e)
}
