package bbolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

func openReplies(t *testing.T, path string, opts ...zgbolt.Option) *zgbolt.ReplyStore {
	t.Helper()
	s, err := zgbolt.OpenReplyStore(path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func done(body string, expires time.Time) reliable.StoredOutcome {
	return reliable.StoredOutcome{Boot: 7, Done: true, Kind: wire.KindReply, Body: [][]byte{[]byte(body), {}}, Expires: expires}
}

func TestReplyStoreSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replies.db")
	now := time.Now()
	s := openReplies(t, path)
	k := wire.RequestKey{Client: 1, Seq: 2}
	require.NoError(t, s.Put(k, reliable.StoredOutcome{Boot: 7, Expires: now.Add(time.Minute)}))
	rec, ok, err := s.Get(k, now)
	require.NoError(t, err)
	require.True(t, ok)
	assert.False(t, rec.Done, "started only")
	require.NoError(t, s.Put(k, done("r", now.Add(time.Minute))))
	require.NoError(t, s.Close())

	s = openReplies(t, path)
	rec, ok, err = s.Get(k, now)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, done("r", now.Add(time.Minute)).Body, rec.Body)
	assert.True(t, rec.Done)
	assert.EqualValues(t, 7, rec.Boot)
	assert.Equal(t, wire.KindReply, rec.Kind)

	_, ok, err = s.Get(k, now.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "expired")
	_, ok, _ = s.Get(wire.RequestKey{Client: 1, Seq: 3}, now)
	assert.False(t, ok, "unknown")
}

func TestReplyStoreExpiresInBatches(t *testing.T) {
	s := openReplies(t, filepath.Join(t.TempDir(), "r.db"), zgbolt.WithExpiryInterval(time.Hour))
	now := time.Now()
	for i := range 600 {
		require.NoError(t, s.Put(wire.RequestKey{Client: 1, Seq: uint64(i)}, done("x", now.Add(time.Duration(i)*time.Millisecond))))
	}
	require.Positive(t, s.Stats().Bytes)
	s.Expire(now.Add(300 * time.Millisecond)) // 0..300 expire (at their Expires, as Get says)
	assert.EqualValues(t, 301, s.Stats().Expired, "in two batches")
	_, ok, _ := s.Get(wire.RequestKey{Client: 1, Seq: 300}, now)
	assert.False(t, ok, "removed")
	_, ok, _ = s.Get(wire.RequestKey{Client: 1, Seq: 301}, now)
	assert.True(t, ok, "kept")
	s.Expire(now.Add(time.Hour))
	assert.EqualValues(t, 600, s.Stats().Expired)
	assert.Zero(t, s.Stats().Bytes, "the accounting returns to zero")
}

func TestReplyStoreBoundedByBytes(t *testing.T) {
	s := openReplies(t, filepath.Join(t.TempDir(), "r.db"), zgbolt.WithMaxBytes(8192))
	now := time.Now()
	big := string(make([]byte, 1000))
	for i := range 100 {
		require.NoError(t, s.Put(wire.RequestKey{Client: 1, Seq: uint64(i)}, done(big, now.Add(time.Hour+time.Duration(i)))))
		require.LessOrEqual(t, s.Stats().Bytes, int64(8192))
	}
	st := s.Stats()
	assert.Positive(t, st.Evicted)
	_, ok, _ := s.Get(wire.RequestKey{Client: 1, Seq: 0}, now)
	assert.False(t, ok, "the oldest made room")
	_, ok, _ = s.Get(wire.RequestKey{Client: 1, Seq: 99}, now)
	assert.True(t, ok, "the newest is kept")

	// Too big to keep: counted, and the earlier record of the key stays.
	k := wire.RequestKey{Client: 2, Seq: 1}
	require.NoError(t, s.Put(k, reliable.StoredOutcome{Boot: 1, Expires: now.Add(time.Hour)}))
	require.NoError(t, s.Put(k, done(string(make([]byte, 10000)), now.Add(time.Hour))))
	assert.EqualValues(t, 1, s.Stats().TooBig)
	rec, ok, _ := s.Get(k, now)
	require.True(t, ok)
	assert.False(t, rec.Done, "the started record stays")
}

func TestReplyStoreCorruptRecordIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s := openReplies(t, path)
	k := wire.RequestKey{Client: 1, Seq: 1}
	require.NoError(t, s.Put(k, done("r", time.Now().Add(time.Hour))))
	require.NoError(t, s.Close())
	// Damage the record behind the store's back: truncated frames.
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("replies"))
		c := b.Cursor()
		key, v := c.First()
		return b.Put(append([]byte{}, key...), append(append([]byte{}, v[:18]...), 5, 200))
	}))
	require.NoError(t, db.Close())
	s = openReplies(t, path)
	_, ok, err := s.Get(k, time.Now())
	assert.False(t, ok)
	assert.Error(t, err)
}

func TestReplyStoreOpenWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	openReplies(t, path)
	start := time.Now()
	_, err := zgbolt.OpenReplyStore(path, zgbolt.WithOpenTimeout(100*time.Millisecond))
	require.ErrorIs(t, err, bolterrors.ErrTimeout)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestOptionsAreTyped(t *testing.T) {
	for _, o := range []zgbolt.Option{zgbolt.WithMaxBytes(10), zgbolt.WithMaxDeadLetters(0),
		zgbolt.WithExpiryInterval(0), zgbolt.WithOpenTimeout(-1), zgbolt.WithBatchDelay(-1), nil} {
		_, err := zgbolt.OpenReplyStore(filepath.Join(t.TempDir(), "r.db"), o)
		var oe *zmq.OptionError
		require.ErrorAs(t, err, &oe)
	}
}

func TestOutboxStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := zgbolt.OpenOutboxStore(path, zgbolt.WithMaxDeadLetters(2))
	require.NoError(t, err)
	id, _ := s.ClientID()
	require.NotZero(t, id)
	now := time.Now().Truncate(time.Microsecond)
	for seq := uint64(1); seq <= 5; seq++ {
		require.NoError(t, s.Add(reliable.OutboxEntry{Seq: seq, Request: [][]byte{[]byte("q"), {}}, Queued: now}))
	}
	require.NoError(t, s.Remove(2))
	p, err := s.Pending(0, 10)
	require.NoError(t, err)
	require.Len(t, p, 4)
	assert.EqualValues(t, 1, p[0].Seq)
	assert.Equal(t, [][]byte{[]byte("q"), {}}, p[0].Request)
	assert.True(t, now.Equal(p[0].Queued))
	p, _ = s.Pending(3, 1)
	require.Len(t, p, 1)
	assert.EqualValues(t, 4, p[0].Seq, "paged after 3")

	for _, seq := range []uint64{1, 3, 4} {
		require.NoError(t, s.Bury(seq, "gave up"))
	}
	assert.EqualValues(t, 1, s.DeadDropped(), "bounded: the oldest went")
	d, _ := s.Dead(0, 10)
	require.Len(t, d, 2)
	assert.EqualValues(t, 3, d[0].Seq)
	assert.Equal(t, "gave up", d[0].Reason)
	require.ErrorIs(t, s.Bury(99, "x"), reliable.ErrNotFound)
	require.ErrorIs(t, s.Drop(1), reliable.ErrNotFound)
	e, err := s.Revive(3)
	require.NoError(t, err)
	assert.EqualValues(t, 3, e.Seq)
	require.NoError(t, s.Drop(4))
	_, err = s.Revive(4)
	require.ErrorIs(t, err, reliable.ErrNotFound)
	require.NoError(t, s.Close())

	s, err = zgbolt.OpenOutboxStore(path)
	require.NoError(t, err)
	defer s.Close()
	id2, _ := s.ClientID()
	assert.Equal(t, id, id2, "the client id is kept")
	last, _ := s.LastSeq()
	assert.EqualValues(t, 5, last, "numbers are never reused")
	p, _ = s.Pending(0, 10)
	seqs := []uint64{}
	for _, e := range p {
		seqs = append(seqs, e.Seq)
	}
	assert.Equal(t, []uint64{3, 5}, seqs)
	d, _ = s.Dead(0, 10)
	assert.Empty(t, d)
}
