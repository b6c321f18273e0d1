package heartbeat

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleep advances the bubble's fake clock by d and lets the tracker's
// goroutines catch up.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t) // 1s, liveness 3, suspect after 1
		events := tr.Events()
		assert.Equal(t, Unknown, tr.State("w"))

		tr.Observe("w")
		assert.Equal(t, Alive, tr.State("w"))

		sleep(1500 * time.Millisecond) // silence == suspect threshold
		assert.Equal(t, Alive, tr.State("w"))
		sleep(time.Nanosecond)
		assert.Equal(t, Suspect, tr.State("w"))

		sleep(1500*time.Millisecond - time.Nanosecond) // silence == 3s
		assert.Equal(t, Suspect, tr.State("w"))
		sleep(time.Nanosecond)
		assert.Equal(t, Dead, tr.State("w"))

		sleep(time.Hour) // Dead stays Dead
		assert.Equal(t, Dead, tr.State("w"))

		tr.Observe("w")
		assert.Equal(t, Alive, tr.State("w"))
		sleep(time.Second)
		tr.Observe("w") // traffic while Suspect-free resets the clock
		sleep(1500 * time.Millisecond)
		assert.Equal(t, Alive, tr.State("w"))

		synctest.Wait()
		assert.Equal(t, []string{
			"w: unknown -> alive",
			"w: alive -> suspect",
			"w: suspect -> dead",
			"w: dead -> alive",
		}, steps(drain(events)))
	})
}

func TestSuspectToAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("w")
		sleep(2 * time.Second)
		require.Equal(t, Suspect, tr.State("w"))
		tr.Observe("w")
		assert.Equal(t, Alive, tr.State("w"))
		sleep(2900 * time.Millisecond) // the Dead deadline moved with the traffic
		assert.Equal(t, Suspect, tr.State("w"))
	})
}

func TestEventTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		events := tr.Events()
		start := time.Now()
		tr.Observe("w")
		sleep(5 * time.Second)
		evs := drain(events)
		require.Len(t, evs, 3)
		assert.Equal(t, start, evs[0].At)
		assert.Equal(t, start.Add(1500*time.Millisecond+1), evs[1].At)
		assert.Equal(t, start.Add(3*time.Second+1), evs[2].At)
	})
}

// TestDetectionBounds checks that a peer that falls silent is Dead after
// more than Interval×Liveness and within Interval×Liveness + Interval, and
// Suspect after (SuspectAfter+½)×Interval, for several policies and for
// peers that were heard from or only tracked.
func TestDetectionBounds(t *testing.T) {
	policies := []Policy{
		{},
		{Interval: 100 * time.Millisecond, Liveness: 5, SuspectAfter: 2},
		{Interval: 2500 * time.Millisecond, Liveness: 2, SuspectAfter: 1},
		{Interval: time.Second, Liveness: 1},
		{Interval: 10 * time.Millisecond, Liveness: 4, SuspectAfter: 4},
	}
	for _, pol := range policies {
		for _, heard := range []bool{true, false} {
			name := fmt.Sprintf("%+v/heard=%v", pol, heard)
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					tr := newTracker(t, WithPolicy(pol))
					p := tr.Policy()
					start := time.Now()
					healthy := Unknown
					if heard {
						tr.Observe("peer")
						healthy = Alive
					} else {
						tr.Track("peer")
					}
					states := map[State]time.Duration{}
					for s := healthy; s != Dead; {
						var err error
						s, err = tr.WaitForStateChange(t.Context(), "peer", s)
						require.NoError(t, err)
						states[s] = time.Since(start)
					}
					deadMin := p.deadAfter()
					assert.Greater(t, states[Dead], deadMin)
					assert.LessOrEqual(t, states[Dead], deadMin+p.Interval)
					if susp, ok := p.suspectAfter(); ok {
						assert.Greater(t, states[Suspect], susp)
						assert.LessOrEqual(t, states[Suspect], time.Duration(p.SuspectAfter+1)*p.Interval)
					} else {
						assert.NotContains(t, states, Suspect)
					}
				})
			})
		}
	}
}

// TestNoFalsePositives sends traffic every Interval (and late within the
// grace) for ten intervals: the peer never leaves Alive.
func TestNoFalsePositives(t *testing.T) {
	gaps := map[string]func(i int) time.Duration{
		"every interval": func(int) time.Duration { return time.Second },
		"late within grace": func(i int) time.Duration {
			return time.Second + time.Duration(i%5)*100*time.Millisecond
		},
		"bursty": func(i int) time.Duration { return time.Duration(i%3) * 700 * time.Millisecond },
	}
	for name, gap := range gaps {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var changes []Event
				tr := newTracker(t, WithOnChange(func(ev Event) { changes = append(changes, ev) }))
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { // the peer
					defer close(done)
					for i := 0; ; i++ {
						tr.Observe("w")
						select {
						case <-stop:
							return
						case <-time.After(gap(i)):
						}
					}
				}()
				for range 10 {
					sleep(time.Second)
					assert.Equal(t, Alive, tr.State("w"))
				}
				close(stop)
				<-done
				synctest.Wait()
				assert.Equal(t, []string{"w: unknown -> alive"}, steps(changes))
			})
		})
	}
}

// TestBusyHandler shows where Observe belongs: on the receive path. The
// handler takes five intervals per message, yet the peer, which keeps
// sending every interval, stays Alive.
func TestBusyHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		inbound := make(chan string)    // the socket
		work := make(chan string, 1000) // queued for the handler
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()

		go func() { // peer: heartbeats every interval
			for {
				select {
				case inbound <- "hb":
				case <-ctx.Done():
					return
				}
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() { // receive loop
			for {
				select {
				case msg := <-inbound:
					tr.Observe("w")
					work <- msg
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() { // busy handler
			for {
				select {
				case <-work:
					select { // five intervals of work
					case <-time.After(5 * time.Second):
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()

		for range 20 {
			sleep(time.Second)
			require.Equal(t, Alive, tr.State("w"))
		}
		cancel()
	})
}

func TestMarkDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		events := tr.Events()
		tr.MarkDead("nobody") // untracked: no effect
		assert.Equal(t, Unknown, tr.State("nobody"))
		assert.Empty(t, tr.Snapshot())

		tr.Observe("w")
		tr.MarkDead("w")
		assert.Equal(t, Dead, tr.State("w"))
		tr.MarkDead("w") // already Dead: no event
		sleep(time.Hour)
		tr.Observe("w")
		assert.Equal(t, Alive, tr.State("w"))

		tr.Track("u")
		tr.MarkDead("u")
		synctest.Wait()
		assert.Equal(t, []string{
			"w: unknown -> alive",
			"w: alive -> dead",
			"w: dead -> alive",
			"u: unknown -> dead",
		}, steps(drain(events)))
	})
}

func TestTrack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Track("q")
		assert.Equal(t, Unknown, tr.State("q"))
		assert.Equal(t, map[string]State{"q": Unknown}, tr.Snapshot())
		sleep(time.Second)
		tr.Track("q") // already tracked: the clock is not restarted
		sleep(600 * time.Millisecond)
		assert.Equal(t, Suspect, tr.State("q"))
		tr.Observe("q")
		assert.Equal(t, Alive, tr.State("q"))
	})
}

func TestForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		events := tr.Events()
		tr.Observe("a")
		tr.Track("b")
		tr.Forget("a")
		tr.Forget("b") // Unknown: no event
		tr.Forget("c") // untracked: nothing
		assert.Equal(t, Unknown, tr.State("a"))
		assert.Empty(t, tr.Snapshot())
		sleep(time.Hour) // no timers left behind
		assert.Empty(t, tr.Snapshot())
		assert.Empty(t, tr.live.items)
		assert.Empty(t, tr.ping.items)

		tr.Observe("a") // starts afresh
		synctest.Wait()
		assert.Equal(t, []string{
			"a: unknown -> alive",
			"a: alive -> unknown",
			"a: unknown -> alive",
		}, steps(drain(events)))
	})
}

func TestSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("a")
		tr.Track("b")
		sleep(2 * time.Second)
		tr.Observe("c")
		assert.Equal(t, map[string]State{"a": Suspect, "b": Suspect, "c": Alive}, tr.Snapshot())
	})
}

// TestManyPeers expires peers with staggered deadlines in order.
func TestManyPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t, WithPolicy(Policy{Interval: time.Second, Liveness: 3, SuspectAfter: 3}))
		events := tr.Events()
		const n = 50
		for i := range n {
			tr.Observe(fmt.Sprint(i))
			sleep(10 * time.Millisecond)
		}
		drain(events)
		sleep(3 * time.Second)
		evs := drain(events)
		require.Len(t, evs, n)
		for i, ev := range evs {
			assert.Equal(t, fmt.Sprint(i), ev.Peer)
			assert.Equal(t, Dead, ev.To)
		}
	})
}
