package bbolt

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

var (
	bucketReplies = []byte("replies") // key -> record
	bucketOrder   = []byte("order")   // expires|key -> nothing, oldest first
	bucketMeta    = []byte("meta")    // "bytes" -> accounted bytes
	metaBytes     = []byte("bytes")
)

// recordOverhead is what a record costs besides its key and value: its
// order entry and bbolt's per-element headers.
const recordOverhead = 64

// ReplyStore is a reliable.ReplyStore in a bbolt file: a server's reply
// cache that survives the server's process (reliable.WithReplyStore).
// Records leave when they expire, removed in small batches in the
// background (WithExpiryInterval), and oldest first when a new one needs
// room (WithMaxBytes).
type ReplyStore struct {
	f *file

	expired, evicted, tooBig atomic.Uint64
}

// ReplyStoreStats counts what a ReplyStore removed or refused.
type ReplyStoreStats struct {
	Expired uint64 // records removed after they expired
	Evicted uint64 // records removed early to make room (WithMaxBytes)
	TooBig  uint64 // records larger than the bound, not kept
	Bytes   int64  // gauge: accounted bytes of the records
}

var _ reliable.ReplyStore = (*ReplyStore)(nil)

// OpenReplyStore opens (or creates) the reply store in file path.
func OpenReplyStore(path string, opts ...Option) (*ReplyStore, error) {
	f, err := openFile(path, opts, [][]byte{bucketReplies, bucketOrder, bucketMeta})
	if err != nil {
		return nil, err
	}
	s := &ReplyStore{f: f}
	f.background(f.cfg.expiry, func() { s.Expire(time.Now()) })
	return s, nil
}

// Close stops the expiry and closes the file. It is idempotent.
func (s *ReplyStore) Close() error { return s.f.close() }

// Stats returns the store's counters.
func (s *ReplyStore) Stats() ReplyStoreStats {
	st := ReplyStoreStats{Expired: s.expired.Load(), Evicted: s.evicted.Load(), TooBig: s.tooBig.Load()}
	_ = s.f.db.View(func(tx *bolt.Tx) error {
		st.Bytes = int64(getU64(tx.Bucket(bucketMeta), metaBytes))
		return nil
	})
	return st
}

func replyKey(k wire.RequestKey) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), k.Client)
	return binary.BigEndian.AppendUint64(b, k.Seq)
}

func orderKey(expires int64, key []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 24), uint64(expires)), key...)
}

// Record layout: expires (8, Unix ns) | boot (8) | done (1) | kind (1) | frames.
func encodeOutcome(r reliable.StoredOutcome) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(r.Expires.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, r.Boot)
	done := byte(0)
	if r.Done {
		done = 1
	}
	b = append(b, done, byte(r.Kind))
	return appendFrames(b, r.Body)
}

func decodeOutcome(v []byte) (reliable.StoredOutcome, error) {
	if len(v) < 18 {
		return reliable.StoredOutcome{}, corrupt("short reply record")
	}
	r := reliable.StoredOutcome{
		Expires: time.Unix(0, int64(binary.BigEndian.Uint64(v))),
		Boot:    binary.BigEndian.Uint64(v[8:]),
		Done:    v[16] == 1,
		Kind:    wire.Kind(v[17]),
	}
	body, _, err := readFrames(v[18:])
	r.Body = body
	return r, err
}

func expiresOf(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) }

func recordSize(key, v []byte) uint64 { return uint64(len(key) + len(v) + recordOverhead) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Get returns key's record if it has not expired at now.
func (s *ReplyStore) Get(key wire.RequestKey, now time.Time) (reliable.StoredOutcome, bool, error) {
	var rec reliable.StoredOutcome
	var ok bool
	err := s.f.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketReplies).Get(replyKey(key))
		if v == nil {
			return nil
		}
		r, err := decodeOutcome(v)
		if err != nil {
			return err
		}
		rec, ok = r, now.Before(r.Expires)
		return nil
	})
	if err != nil || !ok {
		return reliable.StoredOutcome{}, false, err
	}
	return rec, true, nil
}

// Put records rec for key, making room by removing the oldest records. A
// record larger than WithMaxBytes is not kept (the earlier record of key
// stays), and counted.
func (s *ReplyStore) Put(key wire.RequestKey, rec reliable.StoredOutcome) error {
	k, v := replyKey(key), encodeOutcome(rec)
	size := recordSize(k, v)
	if int64(size) > s.f.cfg.maxBytes {
		s.tooBig.Add(1)
		return nil
	}
	var evicted int
	err := s.f.write(func(tx *bolt.Tx) error {
		replies, order, meta := tx.Bucket(bucketReplies), tx.Bucket(bucketOrder), tx.Bucket(bucketMeta)
		bytes := getU64(meta, metaBytes)
		if old := replies.Get(k); old != nil {
			bytes -= recordSize(k, old)
			if err := order.Delete(orderKey(expiresOf(old), k)); err != nil {
				return err
			}
		}
		var err error
		evicted, err = removeOldest(replies, order, &bytes, func([]byte, int) bool { return bytes+size > uint64(s.f.cfg.maxBytes) })
		if err != nil {
			return err
		}
		if err := replies.Put(k, v); err != nil {
			return err
		}
		if err := order.Put(orderKey(rec.Expires.UnixNano(), k), nil); err != nil {
			return err
		}
		return meta.Put(metaBytes, u64(bytes+size))
	})
	if err == nil {
		s.evicted.Add(uint64(evicted))
	}
	return err
}

// Expire removes the records expired at now, at most 256 per
// transaction, so that writers never wait long for it. The background
// goroutine calls it every WithExpiryInterval.
func (s *ReplyStore) Expire(now time.Time) {
	for {
		n := 0
		err := s.f.write(func(tx *bolt.Tx) error {
			replies, order, meta := tx.Bucket(bucketReplies), tx.Bucket(bucketOrder), tx.Bucket(bucketMeta)
			bytes := getU64(meta, metaBytes)
			var err error
			n, err = removeOldest(replies, order, &bytes, func(ok []byte, n int) bool {
				return n < expiryBatch && int64(binary.BigEndian.Uint64(ok)) <= now.UnixNano()
			})
			if err != nil || n == 0 {
				return err
			}
			return meta.Put(metaBytes, u64(bytes))
		})
		if err != nil {
			return
		}
		s.expired.Add(uint64(n))
		if n < expiryBatch {
			return
		}
		select {
		case <-s.f.stop:
			return
		default:
		}
	}
}

// removeOldest removes records oldest first while more says so (given the
// record's order key and how many were removed), keeping the accounted
// bytes, and returns how many it removed.
func removeOldest(replies, order *bolt.Bucket, bytes *uint64, more func(orderKey []byte, n int) bool) (int, error) {
	n := 0
	c := order.Cursor()
	for ok, _ := c.First(); ok != nil && more(ok, n); ok, _ = c.First() {
		rk := ok[8:]
		if old := replies.Get(rk); old != nil {
			*bytes -= recordSize(rk, old)
		}
		if err := replies.Delete(rk); err != nil {
			return n, err
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
