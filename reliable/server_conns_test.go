package reliable_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/hostile"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// upper is what echoUpper answers.
func upper(req string) string { return strings.ToUpper(req) }

// TestServerShedsEndlessMultipart: a peer that sends one request without
// end (frames of 512 KiB with the MORE flag) makes libzmq buffer all of
// it, before the server sees any frame. The server's connection watch
// sees libzmq holding more for the connection than a connection can
// legitimately, and drops it; the attacker reconnects and is dropped
// again. A good client keeps getting replies, and the bytes libzmq holds
// stay bounded.
func TestServerShedsEndlessMultipart(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", echoUpper)
	good := hostile.StartGood(t, s.addr, upper)
	good.Progress(t, 10, "warm-up")
	base := rssKiB(t)
	sampler := sampleRSS(t, 5*time.Millisecond, nil)
	var peakHeld int64
	heldSampler := sampleRSS(t, 5*time.Millisecond, func(time.Duration, int64) {
		peakHeld = max(peakHeld, s.srv.Stats().RequestBytesHeld)
	})
	atk := hostile.Start(t, hostile.Endless, s.addr, hostile.Params{Size: 512 << 10})
	atk.WaitExecutions("dropped", 5, 30*time.Second)
	good.Progress(t, 10, "the attack")
	peak := sampler.Stop()
	heldSampler.Stop()
	st := s.srv.Stats()
	t.Logf("endless multipart: %d connections shed, RSS +%d MiB at peak, libzmq held %d MiB at most; %d good replies, %d failures (%v)",
		st.ConnectionsShed, (peak-base)>>10, peakHeld>>20, good.Answered(), good.Failed(), good.LastErr())
	assert.GreaterOrEqual(t, st.ConnectionsShed, uint64(5))
	assert.Zero(t, good.Failed())
	lim := int64(reliable.DefaultRequestQueue + 32<<20) // the bound, and what libzmq reads between two looks
	assert.Less(t, peakHeld, lim, "held bounded by the request queue")
	limit := int64(128 << 10)
	if raceEnabled {
		limit = 256 << 10
	}
	assert.Less(t, peak-base, limit, "RSS grew by more than %d KiB", limit)
}

// TestServerConnectionCap: 40 connections that stall their handshake,
// against a cap of 16: the oldest stalled connections make room for new
// ones (and for good clients), the server never holds more than the cap,
// and a good client connected before the attack keeps getting replies.
func TestServerConnectionCap(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", echoUpper, reliable.WithMaxConnections(16))
	good := hostile.StartGood(t, s.addr, upper)
	good.Progress(t, 10, "warm-up")
	var peak atomic.Int64
	conns := sampleRSS(t, 2*time.Millisecond, func(time.Duration, int64) {
		if n := int64(s.srv.Stats().Connections); n > peak.Load() {
			peak.Store(n)
		}
	})
	atk := hostile.Start(t, hostile.Stalled, s.addr, hostile.Params{Conns: 40})
	waitFor(t, 20*time.Second, "refusals", func() bool { return s.srv.Stats().ConnectionsRefused >= 100 })
	good.Progress(t, 20, "the stalled connections")

	// A new good client gets in too: it takes a stalled one's place.
	late := hostile.StartGood(t, s.addr, upper)
	late.Progress(t, 5, "the stalled connections, connected late")
	conns.Stop()
	atk.Kill()
	st := s.srv.Stats()
	t.Logf("cap 16: peak %d connections, %d refused or evicted; good: %d ok %d failed, late: %d ok %d failed (%v)",
		peak.Load(), st.ConnectionsRefused, good.Answered(), good.Failed(), late.Answered(), late.Failed(), late.LastErr())
	assert.LessOrEqual(t, peak.Load(), int64(16))
	assert.Zero(t, good.Failed())
	require.True(t, s.srv.Budget().Enforced)
}

// TestServerBoundsSlowReaders: peers that send requests and never read
// the replies make libzmq queue every reply; the server bounds the reply
// bytes queued per connection and in total, drops the replies beyond them
// and counts them. A good client whose reply is dropped because the total
// is full retries, and once the slow readers are gone its retry is
// answered from the reply cache: the handler ran once.
func TestServerBoundsSlowReaders(t *testing.T) {
	const perConn, total = 4 << 20, 4 << 20
	zctx := zmqtest.Context(t)
	var runs counter
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if string(req[0]) == "goodgood" {
			// A reply that fits only when the slow readers' replies
			// leave most of the total free.
			runs.add("goodgood")
			return [][]byte{req[0], make([]byte, total-total/8)}, nil
		}
		return req, nil
	}, reliable.WithReplyQueue(perConn, total), reliable.WithServerMaxReplySize(total),
		// A low receive mark, so that the slow readers' requests wait in
		// TCP, not in libzmq: they are not dropped for flooding.
		reliable.WithServerHWM(8, reliable.DefaultSndHWM),
		// Small, fixed kernel send buffers: the kernel takes only the
		// first few replies, and the rest pile up in libzmq from the
		// start. With buffers that grow, the kernel could absorb
		// megabytes after the queue first filled and empty it again
		// under the good request.
		reliable.WithServerSocketSetup(func(s *zmq.Socket) error { return s.SetSndbuf(64 << 10) }))
	var peakQueued atomic.Int64
	watch := sampleRSS(t, 2*time.Millisecond, func(time.Duration, int64) {
		if q := s.srv.Stats().ReplyBytesQueued; q > peakQueued.Load() {
			peakQueued.Store(q)
		}
	})
	atk := hostile.Start(t, hostile.SlowReader, s.addr, hostile.Params{Conns: 4, Size: 256 << 10})
	waitFor(t, 20*time.Second, "replies dropped", func() bool { return s.srv.Stats().RepliesOverQueue >= 20 })

	failed := make(chan struct{}, 16)
	c := newClient(t, zctx, []string{s.addr}, reliable.WithAttemptTimeout(500*time.Millisecond), reliable.WithMaxAttempts(10),
		reliable.WithEventHook(func(ev reliable.ClientEvent) {
			if ev.Kind == reliable.EventAttemptFailed {
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}))
	done := make(chan error, 1)
	go func() {
		rep, err := c.Request(context.Background(), []byte("goodgood"))
		if err == nil && string(rep[0]) != "goodgood" {
			err = assert.AnError
		}
		done <- err
	}()
	select {
	case <-failed:
	case err := <-done:
		st := s.srv.Stats()
		t.Fatalf("the good request was answered while the reply queue was full: %v (%d connections, %d shed, %d reply bytes queued, %d replies dropped for the queue)",
			err, st.Connections, st.ConnectionsShed, st.ReplyBytesQueued, st.RepliesOverQueue)
	}
	dropped := s.srv.Stats().RepliesOverQueue
	atk.Kill() // the slow readers go; libzmq frees their queues
	require.NoError(t, <-done)
	watch.Stop()
	st := s.srv.Stats()
	t.Logf("slow readers: peak %d KiB of replies queued (limits %d/%d KiB), %d replies dropped for the queue; good request: %d attempts, handler ran %d times, %d answered from the cache",
		peakQueued.Load()>>10, perConn>>10, total>>10, dropped, c.Stats().Attempts, runs.get("goodgood"), st.DuplicatesCached)
	assert.LessOrEqual(t, peakQueued.Load(), int64(total))
	assert.Equal(t, 1, runs.get("goodgood"), "executed once")
	assert.GreaterOrEqual(t, st.DuplicatesCached, uint64(1), "the retry was answered from the cache")
	assert.GreaterOrEqual(t, c.Stats().Attempts, uint64(2))
	assert.GreaterOrEqual(t, st.RepliesDropped, st.RepliesOverQueue)
}
