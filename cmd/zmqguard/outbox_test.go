package main_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
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

// askRaw sends body as attempt id of a correlated request from a DEALER
// and returns the reply's body.
func askRaw(t *testing.T, ep string, id wire.RequestID, body string) []string {
	t.Helper()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	defer zctx.Term()
	s, err := zctx.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Connect(ep))
	_, err = s.SendMessage(id.AppendFrame(nil, wire.KindRequest), "", body)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := timeout.RecvMessageBytes(ctx, s)
	require.NoError(t, err)
	return strs(msg[2:])
}

func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

func TestServeStoreAcrossRestart(t *testing.T) {
	store := filepath.Join(t.TempDir(), "replies.db")
	id := wire.RequestID{Client: 77, Seq: 1, Attempt: 1}
	ep, stop := serve(t, "--json", "--store", store)
	assert.Equal(t, []string{"x"}, askRaw(t, ep, id, "x"))
	stop()

	ep, stop = serve(t, "--json", "--store", store, "--outcome-unknown")
	id.Attempt = 2
	assert.Equal(t, []string{"x"}, askRaw(t, ep, id, "x"))
	lines := strings.Split(strings.TrimSpace(stop()), "\n")
	var st struct {
		Event string
		Stats reliable.ServerStats
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &st))
	assert.Equal(t, "stopped", st.Event)
	assert.EqualValues(t, 0, st.Stats.Executed, "answered from the store")
	assert.EqualValues(t, 1, st.Stats.DuplicatesStored)

	r := zg(t, "serve", "--outcome-unknown", "tcp://127.0.0.1:*")
	assert.Equal(t, 64, r.code, "--outcome-unknown needs --store")
}
