package heartbeat

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPingDueOnlyWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		start := time.Now()
		tr.Track("q")
		assert.False(t, tr.OutboundIdle("q"))
		assert.Empty(t, tr.PingsDue(nil))
		next, ok := tr.NextPing()
		assert.True(t, ok)
		assert.Equal(t, start.Add(time.Second), next)

		sleep(999 * time.Millisecond)
		assert.False(t, tr.OutboundIdle("q"))
		assert.Empty(t, tr.PingsDue(nil))
		sleep(time.Millisecond)
		assert.True(t, tr.OutboundIdle("q"))
		assert.Equal(t, []string{"q"}, tr.PingsDue(nil))
		assert.Equal(t, []string{"q"}, tr.PingsDue(nil), "due until Sent")

		tr.Sent("q") // the ping
		assert.False(t, tr.OutboundIdle("q"))
		assert.Empty(t, tr.PingsDue(nil))
		next, _ = tr.NextPing()
		assert.Equal(t, time.Now().Add(time.Second), next)

		sleep(500 * time.Millisecond)
		tr.Sent("q") // application traffic half way: the ping moves
		sleep(500 * time.Millisecond)
		assert.Empty(t, tr.PingsDue(nil))
		next, _ = tr.NextPing()
		assert.Equal(t, time.Now().Add(500*time.Millisecond), next)
		sleep(500 * time.Millisecond)
		assert.Equal(t, []string{"q"}, tr.PingsDue(nil))
	})
}

// TestNoPingWithTraffic sends something every half interval for ten
// intervals: no ping is ever due.
func TestNoPingWithTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		for range 20 {
			tr.Sent("w")
			sleep(500 * time.Millisecond)
			assert.Empty(t, tr.PingsDue(nil))
			assert.False(t, tr.OutboundIdle("w"))
		}
	})
}

// TestPingLoop runs an owner loop as documented: it pings exactly once per
// interval while idle, and not at all while busy.
func TestPingLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		var pings []time.Duration
		start := time.Now()
		tr.Track("q")
		busyUntil := start.Add(5 * time.Second)
		for time.Since(start) < 10*time.Second {
			next, ok := tr.NextPing()
			assert.True(t, ok)
			wait := min(time.Until(next), 100*time.Millisecond) // "receive" with a deadline
			time.Sleep(max(wait, 0))
			if time.Now().Before(busyUntil) {
				tr.Sent("q") // application traffic
			}
			for _, p := range tr.PingsDue(nil) {
				pings = append(pings, time.Since(start))
				tr.Sent(p)
			}
		}
		assert.Equal(t, []time.Duration{
			5900 * time.Millisecond, 6900 * time.Millisecond, 7900 * time.Millisecond, 8900 * time.Millisecond, 9900 * time.Millisecond,
		}, pings)
	})
}

func TestPingsDueOrderAndStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("a")
		sleep(100 * time.Millisecond)
		tr.Sent("b") // Sent tracks a new peer
		assert.Equal(t, Unknown, tr.State("b"))
		sleep(100 * time.Millisecond)
		tr.Track("c")
		tr.MarkDead("c")
		sleep(100 * time.Millisecond)
		tr.Track("d")
		sleep(900 * time.Millisecond)
		assert.Equal(t, []string{"x", "a", "b", "c"}, tr.PingsDue([]string{"x"}))
		tr.Forget("a")
		sleep(100 * time.Millisecond)
		assert.Equal(t, []string{"b", "c", "d"}, tr.PingsDue(nil))
		tr.Sent("b")
		assert.Equal(t, []string{"c", "d"}, tr.PingsDue(nil))
		assert.False(t, tr.OutboundIdle("untracked"))
	})
}

func TestNextPingEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		_, ok := tr.NextPing()
		assert.False(t, ok)
		tr.Track("a")
		tr.Forget("a")
		_, ok = tr.NextPing()
		assert.False(t, ok)
	})
}
