package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer accepts connections and echoes them until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg []byte, within time.Duration) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, want %q", got, msg)
	}
	return nil
}

func TestFaults(t *testing.T) {
	p, err := New(echoServer(t))
	require.NoError(t, err)
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, roundTrip(t, c, []byte("hello"), time.Second))

	p.SetLatency(100 * time.Millisecond)
	start := time.Now()
	require.NoError(t, roundTrip(t, c, []byte("slow"), 2*time.Second))
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "latency both ways")
	p.SetLatency(0)

	p.SetBandwidth(10_000)
	start = time.Now()
	require.NoError(t, roundTrip(t, c, bytes.Repeat([]byte("x"), 3000), 5*time.Second))
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "3000 B at 10 kB/s, both ways")
	p.SetBandwidth(0)

	p.SetBlackhole(true)
	err = roundTrip(t, c, []byte("lost"), 200*time.Millisecond)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "blackholed: silence, not an error")
	p.SetBlackhole(false) // the connection lost data: it is reset
	c.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "reset after the blackhole: %v", err)

	c2, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, roundTrip(t, c2, []byte("again"), time.Second))
	assert.Equal(t, 1, p.ResetAll())
	c2.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = c2.Read(make([]byte, 1))
	require.Error(t, err)
	assert.GreaterOrEqual(t, p.Stats().Resets.Load(), int64(2))
	assert.Positive(t, p.Stats().Dropped.Load())
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	p, err := New(addr)
	require.NoError(t, err)
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err == nil { // the reset may come before or after the handshake
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "dial failure resets the client: %v", err)
}
