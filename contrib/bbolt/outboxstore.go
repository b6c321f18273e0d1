package bbolt

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zmqguard/zmqguard/reliable"
)

var (
	bucketPending = []byte("pending") // seq -> queued | frames
	bucketDead    = []byte("dead")    // seq -> queued | reason | frames
	metaClient    = []byte("client")
	metaLast      = []byte("last")
	metaDead      = []byte("dead") // how many dead letters
)

// OutboxStore is a reliable.OutboxStore in a bbolt file: a client's
// pending requests and dead letters (reliable.NewOutbox), which the
// `zmqguard outbox` command also reads and edits.
type OutboxStore struct {
	f           *file
	client      uint64
	deadDropped atomic.Uint64
}

var _ reliable.OutboxStore = (*OutboxStore)(nil)

// OpenOutboxStore opens (or creates) the outbox in file path. A new
// outbox gets a random client id, which it keeps.
func OpenOutboxStore(path string, opts ...Option) (*OutboxStore, error) {
	f, err := openFile(path, opts, [][]byte{bucketPending, bucketDead, bucketMeta})
	if err != nil {
		return nil, err
	}
	s := &OutboxStore{f: f}
	err = f.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if s.client = getU64(meta, metaClient); s.client != 0 {
			return nil
		}
		var b [8]byte
		for s.client == 0 {
			rand.Read(b[:])
			s.client = binary.BigEndian.Uint64(b[:])
		}
		return meta.Put(metaClient, u64(s.client))
	})
	if err != nil {
		f.close()
		return nil, err
	}
	f.background(0, nil)
	return s, nil
}

// Close closes the file. It is idempotent.
func (s *OutboxStore) Close() error { return s.f.close() }

// DeadDropped counts the dead letters dropped to stay within
// WithMaxDeadLetters since the store was opened.
func (s *OutboxStore) DeadDropped() uint64 { return s.deadDropped.Load() }

// ClientID returns the outbox's client id.
func (s *OutboxStore) ClientID() (uint64, error) { return s.client, nil }

// LastSeq returns the highest request number ever added.
func (s *OutboxStore) LastSeq() (uint64, error) {
	var last uint64
	err := s.f.db.View(func(tx *bolt.Tx) error {
		last = getU64(tx.Bucket(bucketMeta), metaLast)
		return nil
	})
	return last, err
}

func encodeEntry(e reliable.OutboxEntry, dead bool) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(e.Queued.UnixNano()))
	if dead {
		b = appendString(b, e.Reason)
	}
	return appendFrames(b, e.Request)
}

func decodeEntry(k, v []byte, dead bool) (reliable.OutboxEntry, error) {
	if len(k) != 8 || len(v) < 8 {
		return reliable.OutboxEntry{}, corrupt("short outbox record")
	}
	e := reliable.OutboxEntry{Seq: binary.BigEndian.Uint64(k), Queued: time.Unix(0, int64(binary.BigEndian.Uint64(v)))}
	v = v[8:]
	var err error
	if dead {
		if e.Reason, v, err = readString(v); err != nil {
			return e, err
		}
	}
	e.Request, _, err = readFrames(v)
	return e, err
}

// Add records a pending request and raises LastSeq to its number.
func (s *OutboxStore) Add(e reliable.OutboxEntry) error {
	v := encodeEntry(e, false)
	return s.f.write(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if e.Seq > getU64(meta, metaLast) {
			if err := meta.Put(metaLast, u64(e.Seq)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPending).Put(u64(e.Seq), v)
	})
}

// Remove forgets a pending request.
func (s *OutboxStore) Remove(seq uint64) error {
	return s.f.write(func(tx *bolt.Tx) error { return tx.Bucket(bucketPending).Delete(u64(seq)) })
}

// Pending lists pending requests after a number, in order.
func (s *OutboxStore) Pending(after uint64, max int) ([]reliable.OutboxEntry, error) {
	return s.list(bucketPending, false, after, max)
}

// Dead lists dead letters after a number, in order.
func (s *OutboxStore) Dead(after uint64, max int) ([]reliable.OutboxEntry, error) {
	return s.list(bucketDead, true, after, max)
}

func (s *OutboxStore) list(bucket []byte, dead bool, after uint64, max int) ([]reliable.OutboxEntry, error) {
	var out []reliable.OutboxEntry
	err := s.f.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			e, err := decodeEntry(k, v, dead)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Bury moves a pending request to the dead letters, dropping the oldest
// dead letter when there are WithMaxDeadLetters of them.
func (s *OutboxStore) Bury(seq uint64, reason string) error {
	var dropped bool
	err := s.f.write(func(tx *bolt.Tx) error {
		dropped = false
		pending, dead := tx.Bucket(bucketPending), tx.Bucket(bucketDead)
		v := pending.Get(u64(seq))
		if v == nil {
			return reliable.ErrNotFound
		}
		e, err := decodeEntry(u64(seq), v, false)
		if err != nil {
			return err
		}
		e.Reason = reason
		n := getU64(tx.Bucket(bucketMeta), metaDead)
		if n >= uint64(s.f.cfg.maxDead) {
			c := dead.Cursor()
			if k, _ := c.First(); k != nil {
				if err := c.Delete(); err != nil {
					return err
				}
				dropped, n = true, n-1
			}
		}
		if err := pending.Delete(u64(seq)); err != nil {
			return err
		}
		if err := dead.Put(u64(seq), encodeEntry(e, true)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaDead, u64(n+1))
	})
	if err == nil && dropped {
		s.deadDropped.Add(1)
	}
	return err
}

// Revive moves a dead letter back to the pending requests.
func (s *OutboxStore) Revive(seq uint64) (reliable.OutboxEntry, error) {
	var e reliable.OutboxEntry
	err := s.f.write(func(tx *bolt.Tx) error {
		pending, dead := tx.Bucket(bucketPending), tx.Bucket(bucketDead)
		v := dead.Get(u64(seq))
		if v == nil {
			return reliable.ErrNotFound
		}
		var err error
		if e, err = decodeEntry(u64(seq), v, true); err != nil {
			return err
		}
		if err := deadGone(tx, seq); err != nil {
			return err
		}
		e.Reason = ""
		return pending.Put(u64(seq), encodeEntry(e, false))
	})
	return e, err
}

// Drop forgets a dead letter.
func (s *OutboxStore) Drop(seq uint64) error {
	return s.f.write(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDead).Get(u64(seq)) == nil {
			return reliable.ErrNotFound
		}
		return deadGone(tx, seq)
	})
}

// deadGone deletes dead letter seq, which exists, and counts it out.
func deadGone(tx *bolt.Tx, seq uint64) error {
	if err := tx.Bucket(bucketDead).Delete(u64(seq)); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	return meta.Put(metaDead, u64(getU64(meta, metaDead)-1))
}
