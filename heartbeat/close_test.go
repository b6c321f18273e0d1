package heartbeat

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloseIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := New()
		require.NoError(t, err)
		tr.Observe("w")
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { assert.NoError(t, tr.Close()) })
		}
		wg.Wait()
		require.NoError(t, tr.Close())
		// synctest.Test fails if a goroutine of the tracker is still alive.
	})
}

// TestCloseDeliversPendingEvents closes with events still queued: callbacks
// get them, the channel gets them, then the channel is closed.
func TestCloseDeliversPendingEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var got []string
		tr, err := New(WithOnChange(func(ev Event) {
			if ev.Peer == "first" {
				<-release
			}
			got = append(got, ev.Peer)
		}))
		require.NoError(t, err)
		events := tr.Events()
		tr.Observe("first")
		synctest.Wait()
		tr.Observe("second")
		tr.Observe("third")

		closed := make(chan struct{})
		go func() {
			assert.NoError(t, tr.Close())
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a callback was running")
		default:
		}
		close(release)
		<-closed
		assert.Equal(t, []string{"first", "second", "third"}, got)

		var fromChan []string
		for ev := range events { // closed by Close
			fromChan = append(fromChan, ev.Peer)
		}
		assert.Equal(t, []string{"first", "second", "third"}, fromChan)
	})
}

func TestAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls int
		tr, err := New(WithOnChange(func(Event) { calls++ }))
		require.NoError(t, err)
		tr.Observe("a")
		tr.Track("b")
		require.NoError(t, tr.Close())
		assert.Equal(t, 1, calls)

		tr.Observe("b")
		tr.Observe("new")
		tr.Sent("new")
		tr.Track("new")
		tr.MarkDead("a")
		tr.Forget("a")
		tr.OnChange(func(Event) { calls++ })()
		time.Sleep(time.Hour) // no timer runs any more
		assert.Equal(t, Alive, tr.State("a"), "last known state")
		assert.Equal(t, Unknown, tr.State("b"))
		assert.Equal(t, map[string]State{"a": Alive, "b": Unknown}, tr.Snapshot())
		assert.Equal(t, []string{"x"}, tr.PingsDue([]string{"x"}))
		_, ok := tr.NextPing()
		assert.False(t, ok)
		assert.Equal(t, 1, calls)

		_, open := <-tr.Events() // first call after Close: a closed channel
		assert.False(t, open)

		_, err = tr.WaitForStateChange(context.Background(), "a", Alive)
		assert.ErrorIs(t, err, ErrClosed)
	})
}

// TestCloseWithoutSynctest checks, with the real clock, that Close stops
// the goroutines; goleak in TestMain checks that none is left.
func TestCloseWithoutSynctest(t *testing.T) {
	tr, err := New(WithPolicy(Policy{Interval: time.Millisecond}))
	require.NoError(t, err)
	tr.Observe("w")
	tr.Events()
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close())
}
