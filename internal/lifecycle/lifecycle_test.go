package lifecycle

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errClosed, errRunning = errors.New("closed"), errors.New("running")

func TestRunThenClose(t *testing.T) {
	o := New()
	ctx, err := o.Start(context.Background(), errClosed, errRunning)
	require.NoError(t, err)
	_, err = o.Start(context.Background(), errClosed, errRunning)
	assert.ErrorIs(t, err, errRunning)

	returned := make(chan error)
	go func() {
		<-ctx.Done()
		err := o.Err(context.Background(), errClosed)
		o.Stopped()
		returned <- err
	}()
	first, ran := o.Close()
	assert.True(t, first)
	assert.True(t, ran)
	assert.ErrorIs(t, <-returned, errClosed)
	first, ran = o.Close()
	assert.False(t, first)
	assert.False(t, ran)
	_, err = o.Start(context.Background(), errClosed, errRunning)
	assert.ErrorIs(t, err, errClosed)
}

func TestCloseBeforeRun(t *testing.T) {
	o := New()
	first, ran := o.Close()
	assert.True(t, first)
	assert.False(t, ran)
	_, err := o.Start(context.Background(), errClosed, errRunning)
	assert.ErrorIs(t, err, errClosed)
}

func TestRunEndsWithItsContext(t *testing.T) {
	o := New()
	parent, cancel := context.WithCancel(context.Background())
	ctx, err := o.Start(parent, errClosed, errRunning)
	require.NoError(t, err)
	cancel()
	<-ctx.Done()
	assert.ErrorIs(t, o.Err(parent, errClosed), context.Canceled)
	o.Stopped()
	first, ran := o.Close()
	assert.True(t, first)
	assert.True(t, ran, "Close after Run returned does not wait")
}
