package ppp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
)

// carrier is an observer that counts events and carries a fixed trace.
type carrier struct {
	mu sync.Mutex
	n  map[string]int
	ch chan observe.Event
}

type traceKey struct{}

func (c *carrier) Observe(_ context.Context, ev observe.Event) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[ev.Component.String()+"/"+ev.Kind.String()+"/"+ev.Outcome]++
	c.mu.Unlock()
	select {
	case c.ch <- ev:
	default:
	}
}

func (c *carrier) Inject(ctx context.Context) (context.Context, []byte) {
	return ctx, []byte("trace-1")
}
func (c *carrier) Extract(ctx context.Context, b []byte) context.Context {
	return context.WithValue(ctx, traceKey{}, string(b))
}

func (c *carrier) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// TestObservers: a queue's and a worker's observer see the worker join,
// its handler runs by outcome, and the trace a client's observer injects
// reaches the worker's handler through the queue.
func TestObservers(t *testing.T) {
	zctx := zmqtest.Context(t)
	obs := &carrier{ch: make(chan observe.Event, 256)}
	q, _ := startQueue(t, zctx, ppp.WithQueueObserver(obs), ppp.WithQueueTracePassing(true))
	traces := make(chan any, 2)
	startWorker(t, zctx, q.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		traces <- ctx.Value(traceKey{})
		if string(req[0]) == "panic" {
			panic("boom")
		}
		return req, nil
	}, ppp.WithWorkerObserver(obs))
	c := patientClient(t, zctx, q, reliable.WithObserver(obs))
	_, err := c.Request(context.Background(), []byte("ok"))
	require.NoError(t, err)
	var re *reliable.RemoteError
	_, err = c.Request(context.Background(), []byte("panic"))
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, "trace-1", <-traces)
	assert.Equal(t, "trace-1", <-traces)
	// The worker reports a run after its reply went out: wait for both.
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for obs.get("worker/handled/ok") < 1 || obs.get("worker/handled/panic") < 1 {
		select {
		case <-obs.ch:
		case <-timer.C:
			t.Fatal("no handled events within 5s")
		}
	}
	assert.Equal(t, 1, obs.get("queue/worker_joined/"))
	assert.Equal(t, 1, obs.get("worker/peer_up/"))
	assert.Equal(t, 1, obs.get("worker/panic/"))
	assert.Equal(t, 2, obs.get("client/done/ok")+obs.get("client/done/remote_error"))
}
