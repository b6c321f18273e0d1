package heartbeat

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

func TestMain(m *testing.M) {
	testpeer.MaybeRun() // when re-executed as a peer process
	goleak.VerifyTestMain(m)
}

// newTracker returns a tracker closed by t.Cleanup (inside the synctest
// bubble when t belongs to one).
func newTracker(t *testing.T, opts ...Option) *Tracker {
	t.Helper()
	tr, err := New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tr.Close()) })
	return tr
}

// drain returns the events buffered on ch without blocking.
func drain(ch <-chan Event) []Event {
	var evs []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// steps reduces events to "peer: from -> to" strings.
func steps(evs []Event) []string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = ev.String()
	}
	return s
}
