package heartbeat

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventOrder drives several peers through every transition and checks
// that the channel and each callback see the same events, in the order the
// tracker made them, with non-decreasing times.
func TestEventOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var first, second []Event
		tr := newTracker(t, WithEventBuffer(1000), WithOnChange(func(ev Event) { first = append(first, ev) }))
		tr.OnChange(func(ev Event) {
			second = append(second, ev)
			_ = tr.State(ev.Peer) // callbacks run outside the lock
		})
		events := tr.Events()

		var want []string
		for i := range 5 {
			p := fmt.Sprint("p", i)
			tr.Observe(p)
			want = append(want, p+": unknown -> alive")
			sleep(100 * time.Millisecond)
		}
		sleep(5 * time.Second)
		for i := range 5 {
			want = append(want, fmt.Sprintf("p%d: alive -> suspect", i))
		}
		for i := range 5 {
			want = append(want, fmt.Sprintf("p%d: suspect -> dead", i))
		}
		tr.Observe("p3")
		tr.MarkDead("p3")
		tr.Forget("p1")
		want = append(want, "p3: dead -> alive", "p3: alive -> dead", "p1: dead -> unknown")
		synctest.Wait()

		got := drain(events)
		assert.Equal(t, want, steps(got))
		assert.Equal(t, got, first)
		assert.Equal(t, got, second)
		for i := 1; i < len(got); i++ {
			assert.False(t, got[i].At.Before(got[i-1].At), "event %d goes back in time", i)
		}
		assert.Zero(t, tr.Dropped())
	})
}

// TestSlowChannelConsumer never reads the channel: the tracker does not
// block, the channel keeps the newest events, and the rest are counted.
func TestSlowChannelConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen int
		tr := newTracker(t, WithEventBuffer(2), WithOnChange(func(Event) { seen++ }))
		events := tr.Events()
		for i := range 5 {
			tr.Observe(fmt.Sprint("p", i))
		}
		synctest.Wait()
		assert.Equal(t, uint64(3), tr.Dropped())
		assert.Equal(t, []string{"p3: unknown -> alive", "p4: unknown -> alive"}, steps(drain(events)))
		assert.Equal(t, 5, seen, "callbacks see every event")
	})
}

// TestSlowCallback blocks a callback: the tracker keeps working, later
// callbacks and the channel wait, nothing is lost.
func TestSlowCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		var late []string
		tr := newTracker(t, WithEventBuffer(100),
			WithOnChange(func(ev Event) {
				if ev.Peer == "p0" {
					<-release
				}
			}),
			WithOnChange(func(ev Event) {
				mu.Lock()
				late = append(late, ev.Peer)
				mu.Unlock()
			}))
		events := tr.Events()
		for i := range 10 {
			tr.Observe(fmt.Sprint("p", i)) // never blocks
		}
		sleep(5 * time.Second) // the timer keeps expiring peers
		assert.Equal(t, Dead, tr.State("p9"))
		assert.Empty(t, drain(events))
		mu.Lock()
		assert.Empty(t, late)
		mu.Unlock()

		close(release)
		synctest.Wait()
		assert.Len(t, drain(events), 30)
		mu.Lock()
		assert.Len(t, late, 30)
		mu.Unlock()
		assert.Zero(t, tr.Dropped())
	})
}

func TestPendingLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var seen int
		tr := newTracker(t, WithOnChange(func(ev Event) {
			if ev.Peer == "block" {
				<-release
			}
			seen++
		}))
		tr.Observe("block")
		synctest.Wait() // the dispatcher is stuck in the callback
		for i := range maxPending + 10 {
			tr.Observe(fmt.Sprint(i))
		}
		close(release)
		synctest.Wait()
		assert.Equal(t, uint64(10), tr.Dropped())
		assert.Equal(t, 1+maxPending, seen)
	})
}

func TestOnChangeRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a, b []string
		tr := newTracker(t)
		removeA := tr.OnChange(func(ev Event) { a = append(a, ev.Peer) })
		tr.OnChange(func(ev Event) { b = append(b, ev.Peer) })
		tr.Observe("1")
		synctest.Wait()
		removeA()
		removeA() // idempotent
		tr.Observe("2")
		synctest.Wait()
		assert.Equal(t, []string{"1"}, a)
		assert.Equal(t, []string{"1", "2"}, b)

		tr.OnChange(nil)() // nil: ignored
	})
}

func TestOnChangeSeesOnlyLaterEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("before")
		synctest.Wait()
		var got []string
		tr.OnChange(func(ev Event) { got = append(got, ev.Peer) })
		events := tr.Events()
		tr.Observe("after")
		synctest.Wait()
		assert.Equal(t, []string{"after"}, got)
		assert.Equal(t, []string{"after: unknown -> alive"}, steps(drain(events)))
	})
}

func TestEventsSameChannel(t *testing.T) {
	tr := newTracker(t)
	require.Equal(t, tr.Events(), tr.Events())
}

// TestSubscribeWhileEventsQueued subscribes while events are queued behind
// a blocked callback: the new subscribers do not see them.
func TestSubscribeWhileEventsQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		tr := newTracker(t, WithOnChange(func(ev Event) {
			if ev.Peer == "block" {
				<-release
			}
		}))
		tr.Observe("block")
		synctest.Wait()
		tr.Observe("queued")
		var got []string
		tr.OnChange(func(ev Event) { got = append(got, ev.Peer) })
		events := tr.Events()
		tr.Observe("after")
		close(release)
		synctest.Wait()
		assert.Equal(t, []string{"after"}, got)
		assert.Equal(t, []string{"after: unknown -> alive"}, steps(drain(events)))
	})
}
