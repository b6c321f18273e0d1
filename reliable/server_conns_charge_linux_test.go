package reliable

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplyChargedBeforeItIsWritten: a scan that runs after libzmq wrote
// a reply must find it charged already. Charged only after the send, the
// written reply looked like ZMTP commands, and the connection's estimate
// stayed one reply too high for the rest of its life.
func TestReplyChargedBeforeItIsWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String()) // never reads
	require.NoError(t, err)
	defer peer.Close()
	nc, err := ln.Accept()
	require.NoError(t, err)
	defer nc.Close()
	f, err := nc.(*net.TCPConn).File() // the descriptor libzmq would own
	require.NoError(t, err)
	defer f.Close()

	fd := int(f.Fd())
	rid := []byte("peer")
	c := &conn{fd: fd, rid: string(rid)}
	w := &connWatch{conns: map[int]*conn{fd: c}, byRID: map[string]*conn{c.rid: c},
		limits: connLimits{queuedPerConn: 1 << 20, queuedTotal: 1 << 20}}
	scan := func() {
		cnt, ok := readSockCounters(fd)
		require.True(t, ok)
		w.mu.Lock()
		w.measureOut(c, cnt)
		w.mu.Unlock()
	}

	// A reply is admitted, written by "libzmq", and scanned before the
	// serve loop could have done anything more.
	require.True(t, w.admitReply(rid, 1000))
	_, err = f.Write(make([]byte, 1000))
	require.NoError(t, err)
	scan()
	assert.Zero(t, c.outOffset, "the written reply was taken for commands")
	assert.Zero(t, w.queued)

	// A second one that libzmq still holds counts exactly once.
	require.True(t, w.admitReply(rid, 2000))
	scan()
	assert.Equal(t, int64(2000), c.queued)
	assert.Equal(t, int64(2000), w.queued)

	// One that did not fit the socket is refunded.
	w.refund(rid, 2000)
	assert.Zero(t, w.queued)
	assert.False(t, w.admitReply(rid, 2<<20), "over the per-connection bound")
	assert.Zero(t, w.queued, "a refused reply is not charged")
}
