package zmq_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

var errStop = errors.New("stop the reactor")

// runReactor runs r in a goroutine and returns Run's result, failing the
// test if Run does not return within prompt.
func runReactor(t *testing.T, r *zmq.Reactor, interval time.Duration) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- r.Run(interval) }()
	return waitFor(t, ch, "Reactor.Run to return")
}

// A socket reset after it was added is polled as it is now: before, the
// reactor polled the closed libzmq socket and Run failed.
func TestReactorFollowsReset(t *testing.T) {
	c := zmqtest.Context(t)
	push, pull := zmqtest.Pair(t, c, "tcp", zmq.PUSH, zmq.PULL)
	r := zmq.NewReactor()
	r.AddSocket(pull, zmq.POLLIN, func(zmq.State) error {
		msg, err := pull.Recv(zmq.DONTWAIT)
		if err != nil {
			return err
		}
		if msg == "after reset" {
			return errStop
		}
		return nil
	})
	require.NoError(t, pull.Reset())
	// Until the PUSH sees the old connection gone, it may queue a message
	// for it: send until the reset socket gets one.
	done := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for {
			push.Send("after reset", zmq.DONTWAIT)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	defer func() { close(done); <-sent }()
	assert.ErrorIs(t, runReactor(t, r, 10*time.Millisecond), errStop)
}

// A handler may remove another socket that is ready in the same round:
// that socket's handler is not called (pebbe's reactor dereferenced a nil
// handler there).
func TestReactorHandlerRemovesReadySocket(t *testing.T) {
	c := zmqtest.Context(t)
	push1, pull1 := zmqtest.Pair(t, c, "inproc", zmq.PUSH, zmq.PULL)
	push2, pull2 := zmqtest.Pair(t, c, "inproc", zmq.PUSH, zmq.PULL)
	for _, p := range []*zmq.Socket{push1, push2} {
		_, err := p.Send("ready", 0)
		require.NoError(t, err)
	}
	// Both are ready before Run polls them.
	for _, p := range []*zmq.Socket{pull1, pull2} {
		waitUntilReadable(t, p)
	}

	r := zmq.NewReactor()
	called := map[*zmq.Socket]int{}
	// Neither handler reads its message, so its socket stays ready; it
	// stops the reactor the second time it runs.
	handler := func(self, other *zmq.Socket) func(zmq.State) error {
		return func(zmq.State) error {
			called[self]++
			r.RemoveSocket(other)
			if called[self] == 2 {
				return errStop
			}
			return nil
		}
	}
	r.AddSocket(pull1, zmq.POLLIN, handler(pull1, pull2))
	r.AddSocket(pull2, zmq.POLLIN, handler(pull2, pull1))
	assert.ErrorIs(t, runReactor(t, r, time.Second), errStop)
	assert.True(t, called[pull1] == 0 || called[pull2] == 0,
		"the handler of the socket removed in the first round never ran: %v", called)
}

// A handler may terminate the context: Term does not wait for Run, and Run
// then returns an error matching net.ErrClosed.
func TestReactorHandlerMayTerm(t *testing.T) {
	c, err := zmq.NewContext(zmq.WithTermTimeout(10 * time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { c.Term() })
	push, pull := zmqtest.Pair(t, c, "inproc", zmq.PUSH, zmq.PULL)
	_, err = push.Send("term", 0)
	require.NoError(t, err)

	r := zmq.NewReactor()
	var termTook time.Duration
	r.AddSocket(pull, zmq.POLLIN, func(zmq.State) error {
		start := time.Now()
		err := c.Term()
		termTook = time.Since(start)
		return err
	})
	// The handler's Term returns nil, so Run polls again and finds the
	// context gone.
	assert.ErrorIs(t, runReactor(t, r, 10*time.Millisecond), net.ErrClosed)
	assert.Less(t, termTook, 5*time.Second, "Term waited for Run")
}

// A channel handler gets at most limit values per loop, and a closed
// channel is removed: with nothing left, Run returns ErrReactorEmpty.
func TestReactorChannelLimit(t *testing.T) {
	values := make(chan interface{}, 10)
	for i := range 10 {
		values <- i
	}
	close(values)
	r := zmq.NewReactor()
	var got []interface{}
	var at []time.Time
	r.AddChannel(values, 3, func(v interface{}) error {
		got, at = append(got, v), append(at, time.Now())
		return nil
	})
	const interval = 30 * time.Millisecond // Run sleeps this long between loops
	assert.ErrorIs(t, runReactor(t, r, interval), zmq.ErrReactorEmpty)
	require.Len(t, got, 10, "every value, over several loops")
	inLoop := 1
	for i := 1; i < len(at); i++ {
		if at[i].Sub(at[i-1]) < interval/2 {
			inLoop++
		} else {
			inLoop = 1
		}
		assert.LessOrEqual(t, inLoop, 3, "values handled in one loop")
	}
}

// A time channel is read directly: no goroutine is left behind once Run
// returns (pebbe's reactor forwarded it through one that never ended).
func TestReactorChannelTime(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	r := zmq.NewReactor()
	ticks := 0
	r.AddChannelTime(tick.C, 1, func(v interface{}) error {
		_, isTime := v.(time.Time)
		assert.True(t, isTime)
		if ticks++; ticks == 5 {
			return errStop
		}
		return nil
	})
	assert.ErrorIs(t, runReactor(t, r, time.Millisecond), errStop)
}

func TestReactorNothingToWaitFor(t *testing.T) {
	r := zmq.NewReactor()
	assert.ErrorIs(t, r.Run(time.Millisecond), zmq.ErrReactorEmpty)

	r.AddChannel(make(chan interface{}), 1, func(interface{}) error { return nil })
	assert.ErrorIs(t, r.Run(-1), zmq.ErrReactorInfinite)
}
