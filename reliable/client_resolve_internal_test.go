package reliable

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestResolvedSetWakesWaiters: a request waiting for a peer that woke
// when a new endpoint came up, before update published the set holding
// it, looked at the old set and waits again; publishing the set must wake
// it once more. Without that, the request waited out its deadline next to
// a connected peer (seen once in CI, in discovery's Example).
func TestResolvedSetWakesWaiters(t *testing.T) {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	t.Cleanup(func() { zctx.Term() })
	c, err := NewClientFor(zctx, silentResolver{}) // only the test updates the set
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	var waiting <-chan struct{}
	testHookBeforeSnapshot = func() { waiting = c.ups.next() } // a waiter looking at the old set
	t.Cleanup(func() { testHookBeforeSnapshot = nil })
	c.set.update(discovery.Update{Endpoints: []string{"inproc://resolved-set-wakes"}})
	select {
	case <-waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing the set did not wake the waiter")
	}
}

// silentResolver never reports a set.
type silentResolver struct{}

func (silentResolver) Resolve(ctx context.Context, _ <-chan struct{}, _ func(discovery.Update)) error {
	<-ctx.Done()
	return nil
}
