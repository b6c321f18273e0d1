package heartbeat

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitReturnsAtOnceWhenStateDiffers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("w")
		s, err := tr.WaitForStateChange(t.Context(), "w", Unknown)
		require.NoError(t, err)
		assert.Equal(t, Alive, s)

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s, err = tr.WaitForStateChange(ctx, "w", Dead) // differs: wins over a done ctx
		require.NoError(t, err)
		assert.Equal(t, Alive, s)
	})
}

func TestWaitBlocksUntilChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("w")
		start := time.Now()
		s, err := tr.WaitForStateChange(t.Context(), "w", Alive)
		require.NoError(t, err)
		assert.Equal(t, Suspect, s)
		assert.Equal(t, 1500*time.Millisecond+1, time.Since(start))
	})
}

func TestWaitContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("w")
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		s, err := tr.WaitForStateChange(ctx, "w", Alive)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, Alive, s)
		assert.Equal(t, 500*time.Millisecond, time.Since(start))

		// Cancelled from another goroutine, waiting on an untracked peer.
		ctx, cancel = context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		s, err = tr.WaitForStateChange(ctx, "ghost", Unknown)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, Unknown, s)
		tr.mu.RLock()
		assert.Empty(t, tr.waiting, "a cancelled waiter leaves nothing behind")
		tr.mu.RUnlock()
	})
}

func TestWaitForUntrackedPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		got := make(chan State, 2)
		for range 2 {
			go func() {
				s, err := tr.WaitForStateChange(t.Context(), "late", Unknown)
				assert.NoError(t, err)
				got <- s
			}()
		}
		sleep(time.Second)
		tr.Track("late") // tracked but still Unknown: keep waiting
		sleep(time.Second)
		assert.Empty(t, got)
		tr.Observe("late")
		assert.Equal(t, Alive, <-got)
		assert.Equal(t, Alive, <-got)
		tr.mu.RLock()
		assert.Empty(t, tr.waiting)
		tr.mu.RUnlock()
	})
}

func TestWaitSeesForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t)
		tr.Observe("w")
		go func() {
			time.Sleep(time.Second)
			tr.Forget("w")
		}()
		s, err := tr.WaitForStateChange(t.Context(), "w", Alive)
		require.NoError(t, err)
		assert.Equal(t, Unknown, s)
	})
}

func TestWaitClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := New()
		require.NoError(t, err)
		tr.Observe("w")
		errs := make(chan error, 2)
		go func() {
			_, err := tr.WaitForStateChange(context.Background(), "w", Alive)
			errs <- err
		}()
		go func() {
			_, err := tr.WaitForStateChange(context.Background(), "ghost", Unknown)
			errs <- err
		}()
		synctest.Wait()
		require.NoError(t, tr.Close())
		for range 2 {
			err := <-errs
			require.ErrorIs(t, err, ErrClosed)
			assert.ErrorIs(t, err, net.ErrClosed)
		}

		s, err := tr.WaitForStateChange(context.Background(), "w", Alive)
		assert.Equal(t, Alive, s)
		assert.ErrorIs(t, err, ErrClosed)
		s, err = tr.WaitForStateChange(context.Background(), "w", Dead)
		assert.Equal(t, Alive, s, "a differing state is still reported after Close")
		assert.NoError(t, err)
	})
}

func TestErrClosed(t *testing.T) {
	assert.Equal(t, "heartbeat: tracker closed", ErrClosed.Error())
	assert.True(t, errors.Is(ErrClosed, net.ErrClosed))
	assert.False(t, errors.Is(ErrClosed, context.Canceled))
}
