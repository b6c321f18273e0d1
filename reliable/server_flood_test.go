package reliable_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// TestServerFlood sends 100k requests from fast clients (DEALERs with
// hundreds of requests in flight each) against a handler that sleeps 1 ms,
// with 64 handler slots. The server stops reading when its slots are busy,
// so the flood waits in the HWM-bounded queues and the clients' sockets,
// not in the server's memory: RSS levels off. Every request gets exactly
// one reply. It runs twice: with the reply cache off, where RSS is flat
// from the start, and with the default cache, where RSS grows until the
// cache reaches its bound (65536 entries, about 14 MiB accounted here) and
// is flat from then on.
func TestServerFlood(t *testing.T) {
	t.Run("NoReplyCache", func(t *testing.T) { flood(t, reliable.WithDedupeWindow(0)) })
	t.Run("DefaultReplyCache", func(t *testing.T) { flood(t) })
}

func flood(t *testing.T, opts ...reliable.ServerOption) {
	const (
		clients  = 4
		perPeer  = 25000
		window   = 256 // requests in flight per client
		total    = clients * perPeer
		slots    = 64
		handlerT = time.Millisecond
	)
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		time.Sleep(handlerT)
		return req, nil
	}, append([]reliable.ServerOption{reliable.WithConcurrency(slots)}, opts...)...)

	type sample struct {
		at  time.Duration
		kib int64
	}
	var mu sync.Mutex
	var samples []sample
	base := rssKiB(t)
	sampler := sampleRSS(t, 20*time.Millisecond, func(at time.Duration, kib int64) {
		mu.Lock()
		samples = append(samples, sample{at, kib})
		mu.Unlock()
	})

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		p := newPeer(t, zctx, s.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]bool, perPeer+1)
			next, received := uint64(1), 0
			for received < perPeer {
				for next <= perPeer && int(next)-1-received < window {
					p.send(next, 1, "flood", fmt.Sprint(c))
					next++
				}
				r, err := p.recv(20 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("client %d: %d replies, then %w", c, received, err)
					return
				}
				if r.kind != wire.KindReply || got[r.id.Seq] {
					errs <- fmt.Errorf("client %d: bad or repeated reply %+v", c, r)
					return
				}
				got[r.id.Seq] = true
				received++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sampler.Stop()
	close(errs)
	st := s.srv.Stats()
	for err := range errs {
		require.NoError(t, err, "server stats: %+v", st)
	}

	assert.EqualValues(t, total, st.Executed)
	assert.EqualValues(t, total, st.Replies)
	assert.Zero(t, st.RepliesDropped)

	// The RSS curve, by tenths of the run, and the level-off check: the
	// last quarter's peak is not above 1.2 × the second quarter's + slack.
	mu.Lock()
	defer mu.Unlock()
	peakIn := func(from, to float64) int64 {
		var p int64
		for _, s := range samples {
			f := float64(s.at) / float64(elapsed)
			if f >= from && f < to && s.kib > p {
				p = s.kib
			}
		}
		return p
	}
	var curve []string
	var peak int64
	for i := range 10 {
		p := peakIn(float64(i)/10, float64(i+1)/10)
		peak = max(peak, p)
		curve = append(curve, fmt.Sprintf("%d", p>>10))
	}
	q2, q4 := peakIn(0.25, 0.5), peakIn(0.75, 1.01)
	t.Logf("flood: %d requests in %v (%.0f req/s), %d clients × %d in flight, %d slots, handler %v",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), clients, window, slots, handlerT)
	t.Logf("flood: RSS baseline %d MiB, peak %d MiB; peak per tenth of the run (MiB): %s; Q2 peak %d MiB, Q4 peak %d MiB",
		base>>10, peak>>10, strings.Join(curve, " "), q2>>10, q4>>10)
	t.Logf("flood: reply cache %d entries, %d KiB accounted, %d evictions", st.CacheEntries, st.CacheBytes>>10, st.CacheEvictions)
	if raceEnabled {
		// The race detector keeps metadata for every goroutine and sync
		// object ever created, so under -race RSS grows with the request
		// count whatever the server does (measured: +50 MiB over 100k
		// requests with the reply cache off). The curve is only logged.
		t.Log("flood: -race: RSS level-off not asserted")
	} else {
		const slack = 16 << 10 // KiB
		assert.LessOrEqual(t, q4, q2*12/10+slack, "RSS keeps growing: Q4 peak %d KiB vs Q2 peak %d KiB", q4, q2)
	}
	assert.Less(t, elapsed, 60*time.Second)
}
