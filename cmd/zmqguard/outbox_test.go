package main_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/reliable"
)

// outboxFile makes an outbox store with pending requests 1 and 2 and dead
// letters 3 and 4.
func outboxFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := zgbolt.OpenOutboxStore(path)
	require.NoError(t, err)
	defer s.Close()
	for seq := uint64(1); seq <= 4; seq++ {
		require.NoError(t, s.Add(reliable.OutboxEntry{Seq: seq, Request: [][]byte{[]byte("job"), []byte{byte('0' + seq)}}, Queued: time.Now()}))
	}
	require.NoError(t, s.Bury(3, "reliable: no reply after 3 attempt(s)"))
	require.NoError(t, s.Bury(4, "gave up"))
	return path
}

func TestOutboxLs(t *testing.T) {
	path := outboxFile(t)
	r := zg(t, "outbox", "ls", path)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "last request 4, 4 listed")
	assert.Regexp(t, `(?m)^1 +pending .*"job\|1"$`, r.stdout)
	assert.Regexp(t, `(?m)^3 +dead .*no reply after 3`, r.stdout)

	r = zg(t, "outbox", "ls", "--dead", "--json", path)
	require.Equal(t, 0, r.code, r.stderr)
	var doc struct {
		LastSeq uint64 `json:"last_seq"`
		Entries []struct {
			Seq     uint64   `json:"seq"`
			State   string   `json:"state"`
			Reason  string   `json:"reason"`
			Request []string `json:"request"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	assert.EqualValues(t, 4, doc.LastSeq)
	require.Len(t, doc.Entries, 2)
	assert.Equal(t, "dead", doc.Entries[0].State)
	assert.Equal(t, []string{"job", "3"}, doc.Entries[0].Request)
}

func TestOutboxRetryAndDrop(t *testing.T) {
	path := outboxFile(t)
	r := zg(t, "outbox", "retry", path, "3")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "pending 3\n", r.stdout)
	r = zg(t, "outbox", "drop", path, "3")
	assert.Equal(t, 1, r.code, "3 is pending now, not a dead letter")
	assert.Contains(t, r.stderr, "3 is not a dead letter")
	r = zg(t, "outbox", "drop", "--all", path)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "dropped 4\n", r.stdout)

	s, err := zgbolt.OpenOutboxStore(path)
	require.NoError(t, err)
	defer s.Close()
	p, _ := s.Pending(0, 10)
	assert.Len(t, p, 3)
	d, _ := s.Dead(0, 10)
	assert.Empty(t, d)
}

func TestOutboxBadUse(t *testing.T) {
	path := outboxFile(t)
	for _, args := range [][]string{
		{"outbox"}, {"outbox", "ls"}, {"outbox", "frob", path}, {"outbox", "retry", path},
		{"outbox", "retry", "--all", path, "3"}, {"outbox", "drop", path, "x"}, {"outbox", "ls", path, "3"},
	} {
		r := zg(t, args...)
		assert.Equal(t, 64, r.code, "%v: %s", args, r.stderr)
	}
	// The file is locked while a process has it open.
	s, err := zgbolt.OpenOutboxStore(path)
	require.NoError(t, err)
	defer s.Close()
	r := zg(t, "outbox", "ls", "--wait", "100ms", path)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "open in another process")
}
