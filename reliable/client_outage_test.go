package reliable_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// outage is one server that dies holding a request and comes back on the
// same endpoint after down (not at all when down is 0).
type outage struct {
	name    string
	down    time.Duration
	b       testpeer.Behaviour
	srv     *testpeer.Proc
	c       *reliable.Client
	start   time.Time
	killed  time.Time
	took    time.Duration
	err     error
	events  chan reliable.ClientEvent
	res     chan struct{}
	restart *testpeer.Proc
}

// startOutage starts a server that holds its request for a minute (it is
// killed holding it) and sends it one request from a client with opts,
// under a context with ctxTimeout (none when 0).
func startOutage(t *testing.T, zctx *zmq.Context, name string, down, ctxTimeout time.Duration, opts ...reliable.ClientOption) *outage {
	t.Helper()
	o := &outage{name: name, down: down, b: testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Delay: time.Minute},
		events: make(chan reliable.ClientEvent, 64), res: make(chan struct{})}
	o.srv = testpeer.Start(t, o.b)
	// The restart binds the same port, and answers at once.
	o.b.Bind, o.b.Delay = o.srv.Endpoint, 0
	o.c = newClient(t, zctx, []string{o.srv.Endpoint},
		append(opts, reliable.WithEventHook(func(e reliable.ClientEvent) { o.events <- e }))...)
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	o.start = time.Now()
	if ctxTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, ctxTimeout)
	}
	go func() {
		defer close(o.res)
		defer cancel()
		got, err := o.c.Request(ctx, []byte("survive"))
		o.took = time.Since(o.start)
		if err == nil && string(got[0]) != "survive" {
			err = fmt.Errorf("reply %q", got)
		}
		o.err = err
	}()
	return o
}

// kill SIGKILLs the server once it holds the request.
func (o *outage) kill(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := o.srv.AwaitExec(ctx)
	require.NoError(t, err, o.name)
	o.srv.Kill()
	o.killed = time.Now()
}

// wait waits for the request's end and logs what happened.
func (o *outage) wait(t *testing.T) {
	t.Helper()
	<-o.res
	close(o.events)
	var evs []string
	for e := range o.events {
		if e.Kind == reliable.EventAttempt || e.Kind == reliable.EventAttemptFailed {
			evs = append(evs, fmt.Sprintf("%v #%d at %v", e.Kind, e.Attempt, e.Elapsed.Round(time.Millisecond)))
		}
	}
	t.Logf("%s: %v after %v (server killed at %v, down %v); %v", o.name, o.err, o.took.Round(time.Millisecond),
		o.killed.Sub(o.start).Round(time.Millisecond), o.down, evs)
}

// TestClientRidesOutOutage SIGKILLs the server while it holds a request
// and restarts it on the same endpoint 3 s and 6 s later, with the default
// client settings (3 attempts of 2.5 s, zguide's Lazy Pirate), in both
// modes: the request's budget is 7.5 s from its start, only attempts that
// reach the server count, and while none is up the client waits for one.
// Every request is answered, as zguide's lpclient (3 tries of 2.5 s)
// survives such outages. (The four run at once, so the test takes the
// longest one's time.)
func TestClientRidesOutOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: outages of seconds")
	}
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	var all []*outage
	for _, down := range []time.Duration{3 * time.Second, 6 * time.Second} {
		for _, mode := range modes {
			all = append(all, startOutage(t, zctx, fmt.Sprintf("%v outage, %v mode", down, mode), down, 0, reliable.WithMode(mode)))
		}
	}
	for _, o := range all {
		o.kill(t)
	}
	slices.SortFunc(all, func(a, b *outage) int { return a.killed.Add(a.down).Compare(b.killed.Add(b.down)) })
	for _, o := range all {
		time.Sleep(time.Until(o.killed.Add(o.down))) // the outage is the workload
		o.restart = testpeer.Start(t, o.b)
	}
	giveUps := 0
	for _, o := range all {
		o.wait(t)
		if !assert.NoError(t, o.err, o.name) {
			giveUps++
			continue
		}
		assert.Equal(t, 1, o.restart.WaitExecutions("survive", 1, time.Second), o.name)
		assert.EqualValues(t, 2, o.c.Stats().Attempts, "%s: one before the crash, one after the restart", o.name)
		assert.Greater(t, o.took, o.down, o.name)
	}
	t.Logf("give-ups: %d of %d requests, each in flight when its server was SIGKILLed and restarted 3 s or 6 s later", giveUps, len(all))
}

// TestClientBudget: the request's total deadline is its context's, else
// attempts × attempt timeout from its start plus the backoff pauses;
// waiting for a server that is down spends time, not attempts; and each
// attempt sent to a server that does not answer has its whole timeout.
func TestClientBudget(t *testing.T) {
	const attempt = 300 * time.Millisecond
	budget := 3 * attempt
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	opts := []reliable.ClientOption{reliable.WithAttemptTimeout(attempt), reliable.WithMaxAttempts(3)}

	// No restart: the request gives up at its budget, one attempt spent.
	gone := startOutage(t, zctx, "down for good", 0, 0, opts...)
	// Down longer than the budget, but the context allows more.
	slow := startOutage(t, zctx, "down 1.5 s, context 3 s", 1500*time.Millisecond, 3*time.Second, opts...)
	// Down for good: the context's deadline, later than attempts ×
	// timeout, ends the request.
	ctxEnds := startOutage(t, zctx, "down for good, context 1.5 s", 0, 1500*time.Millisecond, opts...)
	for _, o := range []*outage{gone, slow, ctxEnds} {
		o.kill(t)
	}
	time.Sleep(time.Until(slow.killed.Add(slow.down)))
	slow.restart = testpeer.Start(t, slow.b)
	for _, o := range []*outage{gone, slow, ctxEnds} {
		o.wait(t)
	}

	var nr *reliable.NoReplyError
	require.ErrorAs(t, gone.err, &nr)
	assert.ErrorIs(t, gone.err, reliable.ErrNotConnected)
	assert.Nil(t, nr.Ctx)
	assert.Equal(t, 1, nr.Attempts, "only the attempt that reached the server counts")
	assert.GreaterOrEqual(t, gone.took, budget)
	assert.Less(t, gone.took, budget+time.Second)

	require.NoError(t, slow.err, "the context's deadline is the budget")
	assert.EqualValues(t, 2, slow.c.Stats().Attempts)

	require.ErrorAs(t, ctxEnds.err, &nr)
	assert.ErrorIs(t, ctxEnds.err, context.DeadlineExceeded)
	assert.ErrorIs(t, ctxEnds.err, os.ErrDeadlineExceeded)
	assert.True(t, errors.Is(nr.Last, reliable.ErrPeerGone), "%v", nr.Last)
	assert.Equal(t, 1, nr.Attempts)
	assert.GreaterOrEqual(t, ctxEnds.took, 1500*time.Millisecond)
	assert.Less(t, ctxEnds.took, 2500*time.Millisecond)
}

// TestClientAttemptsKeepTheirTimeout: a server that answers once, then
// takes every request and never answers. The request's budget is 3 × 200
// ms plus the two pauses of 100 ms: 800 ms from the call, when it ends.
// The first attempts wait their whole timeout, and the last one too, but
// for the moments the request spent outside attempts and pauses (sending,
// looping: milliseconds, more on a loaded machine), as each try of
// zguide's lpclient does: the pauses, here as long as the last attempt,
// do not eat into it. (The first request connects the client, so that no
// wait for a connection is in the budget.)
func TestClientAttemptsKeepTheirTimeout(t *testing.T) {
	const attempt = 200 * time.Millisecond
	srv := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", HangAfter: 1})
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	evc := make(chan reliable.ClientEvent, 64)
	c := newClient(t, zctx, []string{srv.Endpoint},
		reliable.WithAttemptTimeout(attempt), reliable.WithMaxAttempts(3),
		reliable.WithBackoff(reliable.Backoff{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: -1}),
		reliable.WithEventHook(func(e reliable.ClientEvent) {
			if e.Seq == 2 {
				evc <- e
			}
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := c.Request(ctx, []byte("connects"))
	cancel()
	require.NoError(t, err)
	_, err = c.Request(context.Background(), []byte("anyone?"))
	var nr *reliable.NoReplyError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, 3, nr.Attempts)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	close(evc)
	const budget = 3*attempt + 2*100*time.Millisecond
	sent := map[int]time.Duration{}
	for e := range evc {
		switch e.Kind {
		case reliable.EventAttempt:
			sent[e.Attempt] = e.Elapsed
		case reliable.EventAttemptFailed:
			took := e.Elapsed - sent[e.Attempt]
			if e.Attempt < 3 {
				assert.GreaterOrEqual(t, took, attempt, "attempt %d", e.Attempt)
				assert.Less(t, took, attempt+time.Second, "attempt %d", e.Attempt)
				continue
			}
			assert.GreaterOrEqual(t, e.Elapsed, budget, "the request ends at its budget")
			assert.Less(t, e.Elapsed, budget+time.Second)
			assert.Greater(t, took, attempt/2, "the last attempt is not eaten by the pauses")
		}
	}
	assert.Len(t, sent, 3)
}
