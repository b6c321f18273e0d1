package reliable_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/hostile"
	"github.com/zmqguard/zmqguard/internal/procstat"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
)

// terabyteFrame is the header of a long message frame of 1 TiB.
func terabyteFrame() []byte {
	return binary.BigEndian.AppendUint64([]byte{0x02}, 1<<40)
}

// sampleRSS samples the test process's RSS (see procstat.SampleRSS).
func sampleRSS(t testing.TB, every time.Duration, each func(at time.Duration, kib int64)) *procstat.Sampler {
	t.Helper()
	return procstat.SampleRSS(os.Getpid(), every, each)
}

// goodClient makes requests one after another until stopped, and counts
// them; any failure is recorded.
type goodClient struct {
	ok       atomic.Int64
	failures atomic.Int64
	worst    atomic.Int64 // ns
	firstErr atomic.Value
	stop     chan struct{}
	done     chan struct{}
}

func startGoodClient(t *testing.T, p *peer) *goodClient {
	g := &goodClient{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for seq := uint64(1); ; seq++ {
			select {
			case <-g.stop:
				return
			default:
			}
			start := time.Now()
			p.send(seq, 1, "ping", fmt.Sprint(seq))
			r, err := p.recv(2 * time.Second)
			if err == nil && (r.id != p.id(seq, 1) || len(r.body) != 2 || r.body[0] != "PING") {
				err = fmt.Errorf("wrong reply %+v to seq %d", r, seq)
			}
			if err != nil {
				g.failures.Add(1)
				g.firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			if el := int64(time.Since(start)); el > g.worst.Load() {
				g.worst.Store(el)
			}
			g.ok.Add(1)
		}
	}()
	return g
}

// progress waits until the client completed n more requests.
func (g *goodClient) progress(t *testing.T, n int64, during string) {
	t.Helper()
	target := g.ok.Load() + n
	waitFor(t, 20*time.Second, "good client progress during "+during, func() bool {
		return g.ok.Load() >= target || g.failures.Load() > 0
	})
	require.Zero(t, g.failures.Load(), "good client failed during %s: %v", during, g.firstErr.Load())
}

func (g *goodClient) halt() {
	close(g.stop)
	<-g.done
}

// awaitClosed reads from c until the server closes the connection.
func awaitClosed(c net.Conn, within time.Duration) error {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	if err == nil || strings.Contains(err.Error(), "reset by peer") {
		return nil // EOF or RST: closed by the server
	}
	return err
}

// TestServerHostilePeers attacks a running server over raw TCP: random
// garbage, a valid greeting followed by a frame header announcing a
// terabyte, and 200 connections that send a greeting and stall. A
// well-behaved client keeps getting replies throughout, and the process's
// RSS stays bounded.
func TestServerHostilePeers(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", echoUpper)
	addr := strings.TrimPrefix(s.addr, "tcp://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		return c
	}

	good := startGoodClient(t, newPeer(t, zctx, s.addr))
	defer good.halt()
	good.progress(t, 20, "warm-up")
	base := rssKiB(t)
	sampler := sampleRSS(t, 10*time.Millisecond, nil)

	phase := func(name string) {
		t.Logf("after %s: RSS %d KiB (peak so far %d KiB)", name, rssKiB(t), sampler.Peak())
	}
	defer phase("all")
	t.Run("RandomGarbage", func(t *testing.T) {
		defer phase("garbage")
		rng := rand.New(rand.NewPCG(1, 2))
		var wg sync.WaitGroup
		for i := range 50 {
			junk := make([]byte, 64<<10)
			for j := range junk {
				junk[j] = byte(rng.Uint32())
			}
			if i%2 == 0 {
				junk[0] = 0xFF // looks like a ZMTP 3 signature start
			}
			c := dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write(junk) // the server may hang up half-way
				assert.NoError(t, awaitClosed(c, 10*time.Second), "server did not drop a garbage peer")
			}()
		}
		good.progress(t, 20, "garbage")
		wg.Wait()
	})

	t.Run("TerabyteFrame", func(t *testing.T) {
		defer phase("terabyte")
		var wg sync.WaitGroup
		for range 20 {
			c := dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				msg := append(append(hostile.Greeting(), hostile.Ready()...), terabyteFrame()...)
				_, err := c.Write(msg)
				require.NoError(t, err)
				// Then stream data as if the terabyte were coming.
				chunk := make([]byte, 64<<10)
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				for range 64 {
					if _, err := c.Write(chunk); err != nil {
						break
					}
				}
				assert.NoError(t, awaitClosed(c, 10*time.Second), "server did not drop the terabyte peer")
			}()
		}
		good.progress(t, 20, "terabyte frames")
		wg.Wait()
	})

	t.Run("StalledGreetings", func(t *testing.T) {
		defer phase("stalled")
		conns := make([]net.Conn, 0, 200)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 200 {
			c := dial()
			conns = append(conns, c)
			_, err := c.Write(hostile.Greeting())
			require.NoError(t, err)
		}
		good.progress(t, 50, "200 stalled handshakes")
	})

	peak := sampler.Stop()
	good.progress(t, 10, "after the attacks")
	st := s.srv.Stats()
	t.Logf("hostile peers: RSS baseline %d KiB, peak %d KiB (+%d KiB); good client: %d replies, worst latency %v; server saw %d requests, executed %d, answered %d as malformed",
		base, peak, peak-base, good.ok.Load(), time.Duration(good.worst.Load()), st.Requests, st.Executed, st.Malformed)
	// The bound is generous for -race, which multiplies Go's memory.
	limit := int64(64 << 10)
	if raceEnabled {
		limit = 128 << 10
	}
	assert.Less(t, peak-base, limit, "RSS grew by more than %d KiB under attack", limit)
	// libzmq takes a peer whose first byte is not 0xFF for a ZMTP 1.0
	// peer, so some garbage is framed into messages: they reach the
	// server, which answers them as malformed (st.Malformed) instead of
	// running them.
}
