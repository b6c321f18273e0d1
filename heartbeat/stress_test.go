package heartbeat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConcurrentUse hammers one tracker from many goroutines on the real
// clock, with a 1ms interval so that the timer goroutine expires peers
// while they are being fed. It does not sleep; -race finds the bugs.
func TestConcurrentUse(t *testing.T) {
	tr, err := New(WithPolicy(Policy{Interval: time.Millisecond, Liveness: 2}), WithEventBuffer(8))
	require.NoError(t, err)
	var calls int
	tr.OnChange(func(Event) { calls++ }) // one dispatcher: no lock needed
	events := tr.Events()

	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	readers.Go(func() {
		for range events {
		}
	})
	readers.Go(func() {
		for ctx.Err() == nil {
			_, _ = tr.WaitForStateChange(ctx, "p0", tr.State("p0"))
		}
	})

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			due := make([]string, 0, 16)
			for i := range 3000 {
				p := fmt.Sprint("p", (g+i)%10)
				switch i % 7 {
				case 0, 1, 2:
					tr.Observe(p)
				case 3:
					tr.Sent(p)
				case 4:
					_ = tr.State(p)
					_ = tr.OutboundIdle(p)
				case 5:
					due = tr.PingsDue(due[:0])
					_, _ = tr.NextPing()
				case 6:
					if i%70 == 6 {
						tr.Forget(p)
					} else if i%35 == 6 {
						tr.MarkDead(p)
					} else {
						tr.Track(p)
					}
				}
			}
		})
	}
	wg.Wait()
	cancel()
	require.NoError(t, tr.Close())
	readers.Wait()
	t.Logf("%d events, %d dropped from the channel", calls, tr.Dropped())
}
