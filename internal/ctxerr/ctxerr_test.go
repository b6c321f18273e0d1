package ctxerr

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEnded(t *testing.T) {
	assert.NoError(t, Ended(context.Background()))

	live, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	assert.NoError(t, Ended(live))

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.ErrorIs(t, Ended(canceled), context.Canceled)

	// A deadline that has passed: Ended returns only once ctx.Err() says so.
	past, cancel3 := context.WithDeadline(context.Background(), time.Now().Add(time.Millisecond))
	defer cancel3()
	d, _ := past.Deadline()
	for time.Now().Before(d) { // spin past the deadline, not a sleep
	}
	err := Ended(past)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, past.Err(), context.DeadlineExceeded)
}
