package zmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// hotWaitForTest turns the hot wait on in its test mode (zmq.SetHotWait)
// until the test ends.
func hotWaitForTest(t *testing.T) {
	was := zmq.HotWait()
	zmq.SetHotWait(true, true)
	t.Cleanup(func() { zmq.SetHotWait(was, false) })
}

// firstHotWait returns a channel closed when a receive or a batch send on
// s first waits hot.
func firstHotWait(s *zmq.Socket) <-chan struct{} {
	hot := make(chan struct{})
	var once sync.Once
	zmq.OnHotWait(s, func() { once.Do(func() { close(hot) }) })
	return hot
}

// awaitHotWait waits for hot (from firstHotWait) to close, for up to
// 10 s.
func awaitHotWait(t *testing.T, hot <-chan struct{}) {
	t.Helper()
	select {
	case <-hot:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never waited hot")
	}
}

// firstPark returns a channel closed when a call on s first parks.
func firstPark(s *zmq.Socket) <-chan struct{} {
	parked := make(chan struct{})
	var once sync.Once
	zmq.OnPark(s, func() { once.Do(func() { close(parked) }) })
	return parked
}

// hotREQ returns a REQ socket whose recent receives waited briefly (so its
// next receive that must wait waits hot) and its REP peer, with the hot
// wait on and one hot wait lasting up to an hour, so that only a wake-up
// can end it.
func hotREQ(t *testing.T) (req, rep *zmq.Socket) {
	t.Helper()
	hotWaitForTest(t)
	c := zmqtest.Context(t)
	rep, req = zmqtest.Pair(t, c, "tcp", zmq.REP, zmq.REQ)
	for range 20 {
		_, err := req.Send("ping", 0)
		require.NoError(t, err)
		_, err = rep.Recv(0)
		require.NoError(t, err)
		_, err = rep.Send("pong", 0)
		require.NoError(t, err)
		_, err = req.Recv(0)
		require.NoError(t, err)
	}
	return req, rep
}

func TestHotWaitEndsAtOnceOnCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	// The backstop ends the test if the receive never waits hot.
	backstop, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	ctx, cancel := context.WithCancel(backstop)
	defer cancel()
	var cancelled time.Time
	var once sync.Once
	zmq.OnHotWait(req, func() {
		once.Do(func() {
			// The receive is about to block in C; cancel from another
			// goroutine once it is there.
			go func() { cancelled = time.Now(); cancel() }()
		})
	})
	_, err := req.Send("no reply", 0)
	require.NoError(t, err)
	_, err = rep.Recv(0) // the request is taken; no reply follows
	require.NoError(t, err)
	_, err = timeout.RecvBytes(ctx, req)
	returned := time.Now()
	require.ErrorIs(t, err, context.Canceled)
	var hit bool
	once.Do(func() { hit = true })
	require.False(t, hit, "the receive never waited hot")
	assert.Less(t, returned.Sub(cancelled), time.Second, "a cancel ends the hot wait at once, not after its bound (1 h here)")
}

func TestHotWaitEndsAtOnceOnClose(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, _ := hotREQ(t)
	hot := firstHotWait(req)
	_, err := req.Send("no reply", 0)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := req.RecvBytes(0)
		done <- err
	}()
	awaitHotWait(t, hot)
	closed := time.Now()
	require.NoError(t, req.Close())
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, net.ErrClosed), "got %v", err)
		assert.Less(t, time.Since(closed), time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the hot wait")
	}
}

func TestHotWaitReceivesAndHonoursDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	var hot sync.WaitGroup
	hot.Add(1)
	var once sync.Once
	zmq.OnHotWait(req, func() { once.Do(hot.Done) })
	_, err := req.Send("ask", 0)
	require.NoError(t, err)
	go func() {
		hot.Wait() // reply only once the client waits hot
		msg, err := rep.Recv(0)
		if err == nil {
			rep.Send("answer to "+msg, 0)
		}
	}()
	require.NoError(t, req.SetRcvtimeo(10*time.Second)) // backstop
	got, err := req.Recv(0)
	require.NoError(t, err)
	assert.Equal(t, "answer to ask", got)

	// A deadline inside a long hot wait ends it on time.
	_, err = req.Send("again", 0)
	require.NoError(t, err)
	_, err = rep.Recv(0)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = timeout.RecvBytes(ctx, req)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	el := time.Since(start)
	assert.GreaterOrEqual(t, el, 50*time.Millisecond)
	assert.Less(t, el, 50*time.Millisecond+time.Second)
}

// While a receive waits hot, its socket is not registered with the
// netpoller: ZMQ_FD shares its eventfd with the registered duplicate, so a
// registration would wake the thread blocked in epoll at every signal, for
// nothing (one extra thread wake-up per round trip).
func TestHotWaitLeavesTheNetpoller(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	// A wait that parks registers the socket.
	_, err := req.SendBytes([]byte("first"), 0)
	require.NoError(t, err)
	zmq.SetHotWait(false, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replyOnceParked(ctx, req, rep)
	_, err = timeout.RecvBytes(ctx, req)
	require.NoError(t, err)
	require.True(t, zmq.Registered(req), "a parked wait registers the socket")

	zmq.SetHotWait(true, true)
	polled := make(chan bool, 1)
	var once sync.Once
	zmq.OnHotWait(req, func() { once.Do(func() { polled <- zmq.Registered(req) }) })
	_, err = req.SendBytes([]byte("second"), 0)
	require.NoError(t, err)
	seen := make(chan bool, 1)
	go func() {
		if _, err := rep.RecvBytes(0); err != nil {
			return
		}
		select { // reply once the client waits hot
		case p := <-polled:
			seen <- p
		case <-ctx.Done():
		}
		rep.SendBytes([]byte("reply"), 0)
	}()
	_, err = timeout.RecvBytes(ctx, req)
	require.NoError(t, err, "the receive never waited hot")
	assert.False(t, <-seen, "registered with the netpoller while waiting hot")
}

// One long wait does not keep a socket out of the hot wait: eligibility is
// the share of recent waits that were short, not their average duration
// (one 400 ms wait kept that above a 20 ms bound for the next 7 waits).
func TestHotWaitSurvivesOneLongWait(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	zmq.SetHotTuning(time.Hour, 0, 20*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	roundTrip := func(delay time.Duration) {
		t.Helper()
		_, err := req.SendBytes([]byte("q"), 0)
		require.NoError(t, err)
		_, err = rep.RecvBytes(0)
		require.NoError(t, err)
		reply := func() { rep.SendBytes([]byte("a"), 0) }
		if delay > 0 {
			time.AfterFunc(delay, reply) // the long wait is the scenario
		} else {
			reply()
		}
		_, err = timeout.RecvBytes(ctx, req)
		require.NoError(t, err)
	}
	roundTrip(400 * time.Millisecond)
	var hot sync.Once
	waitedHot := false
	zmq.OnHotWait(req, func() { hot.Do(func() { waitedHot = true }) })
	// The reply is there before the receive looks, or it waits: either
	// way the next receive that has to wait must wait hot.
	for i := 0; i < 3 && !waitedHot; i++ {
		roundTrip(time.Millisecond)
	}
	assert.True(t, waitedHot, "no hot wait after one long wait")
}

// A batch receive (RecvMsgs of several Msgs) parks instead of waiting
// hot, even on a socket whose recent waits were short; a RecvMsgs of one
// Msg waits hot like RecvMsg.
func TestBatchReceiveParks(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	hotWaitForTest(t)
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "tcp", zmq.PULL, zmq.PUSH)
	ms := make([]zmq.Msg, 4)
	defer func() {
		for i := range ms {
			ms[i].Close()
		}
	}()
	// A hot wait would be told at once, and answered, so that it ends.
	var hot atomic.Int32
	zmq.OnHotWait(pull, func() {
		hot.Add(1)
		go push.SendBytes([]byte("hot"), 0)
	})
	for range 20 { // recent waits short: a single receive would wait hot
		_, err := push.SendBytes([]byte("warm"), 0)
		require.NoError(t, err)
		_, err = pull.RecvMsgs(ms, 0)
		require.NoError(t, err)
	}
	// Nothing is sent: parked, the batch waits out its timeout.
	require.NoError(t, pull.SetRcvtimeo(100*time.Millisecond))
	_, err := pull.RecvMsgs(ms, 0)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Zero(t, hot.Load(), "a batch receive waited hot")

	// One Msg: a single receive, which waits hot.
	require.NoError(t, pull.SetRcvtimeo(3*time.Second)) // backstop
	zmq.OnHotWait(pull, func() {})
	for range 20 {
		_, err := push.SendBytes([]byte("warm"), 0)
		require.NoError(t, err)
		_, err = pull.RecvMsgs(ms[:1], 0)
		require.NoError(t, err)
	}
	var once sync.Once
	waitedHot := false
	zmq.OnHotWait(pull, func() {
		once.Do(func() {
			waitedHot = true
			go push.SendBytes([]byte("one"), 0) // sent once the receive waits hot
		})
	})
	n, err := pull.RecvMsgs(ms[:1], 0)
	require.NoError(t, err, "RecvMsgs of one Msg did not wait hot")
	require.Equal(t, 1, n)
	assert.Equal(t, "one", string(ms[0].Bytes()))
	assert.True(t, waitedHot, "RecvMsgs of one Msg did not wait hot")
}

// A hot wait takes the socket out of the netpoller without changing its
// descriptor count, so a wait that parks afterwards registers it again
// even with the descriptor table full (a server under a connection flood:
// TestHostilePeers' stalled handshakes failed the late client so).
func TestHotWaitThenParkWithFullDescriptorTable(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Park once (registered), then wait hot once (unregistered).
	zmq.SetHotWait(false, false)
	_, err := req.SendBytes([]byte("1"), 0)
	require.NoError(t, err)
	replyOnceParked(ctx, req, rep)
	_, err = timeout.RecvBytes(ctx, req)
	require.NoError(t, err)
	require.True(t, zmq.Registered(req))
	zmq.SetHotWait(true, true)
	hot := firstHotWait(req)
	_, err = req.SendBytes([]byte("2"), 0)
	require.NoError(t, err)
	go func() {
		if _, err := rep.RecvBytes(0); err != nil {
			return
		}
		select { // reply once the client waits hot
		case <-hot:
		case <-ctx.Done():
		}
		rep.SendBytes([]byte("reply"), 0)
	}()
	_, err = timeout.RecvBytes(ctx, req)
	require.NoError(t, err, "the receive never waited hot")
	require.False(t, zmq.Registered(req))

	// Fill the descriptor table, then make the next wait park.
	fillDescriptorTable(t)
	zmq.SetHotWait(false, false)
	_, err = req.SendBytes([]byte("3"), 0)
	require.NoError(t, err)
	replyOnceParked(ctx, req, rep)
	_, err = timeout.RecvBytes(ctx, req)
	require.NoError(t, err, "a parked wait after a hot one needs no new descriptor")
	assert.True(t, zmq.Registered(req))
}

// replyOnceParked answers req's pending request from rep once req's
// receive has parked, so that the receive surely registers with the
// netpoller (a reply that came first would spare it the wait).
func replyOnceParked(ctx context.Context, req, rep *zmq.Socket) {
	parked := firstPark(req)
	go func() {
		if _, err := rep.RecvBytes(0); err != nil {
			return
		}
		select {
		case <-parked:
		case <-ctx.Done():
		}
		rep.SendBytes([]byte("reply"), 0)
	}()
}

// fillDescriptorTable lowers the soft RLIMIT_NOFILE and opens /dev/null
// until the table is full; both are undone at cleanup.
func fillDescriptorTable(t *testing.T) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	low := lim
	low.Cur = 4096
	if low.Cur > lim.Cur {
		low.Cur = lim.Cur
	}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	var held []*os.File
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE)
			return
		}
		held = append(held, f)
	}
}

// A socket leaves the netpoller for a hot wait at most once per interval:
// each registration allocates, and a stream whose hot waits now and then
// ran out (and so parked) made 0.01 allocations per message.
func TestHotWaitUnregistersAtMostOncePerInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// roundTrip waits hot (the reply comes once the receive waits hot) or
	// parks, and reports whether the socket was registered while hot.
	every := time.Duration(0)
	roundTrip := func(hot bool) (registered bool) {
		t.Helper()
		zmq.SetHotWait(hot, false)
		zmq.SetHotTuning(time.Hour, 0, time.Hour, every)
		hotNow := make(chan bool, 1)
		var once sync.Once
		zmq.OnHotWait(req, func() { once.Do(func() { hotNow <- zmq.Registered(req) }) })
		_, err := req.SendBytes([]byte("q"), 0)
		require.NoError(t, err)
		if !hot {
			replyOnceParked(ctx, req, rep)
			_, err = timeout.RecvBytes(ctx, req)
			require.NoError(t, err)
			return zmq.Registered(req)
		}
		seen := make(chan bool, 1)
		go func() {
			if _, err := rep.RecvBytes(0); err != nil {
				return
			}
			select {
			case r := <-hotNow:
				seen <- r
			case <-ctx.Done():
			}
			rep.SendBytes([]byte("a"), 0)
		}()
		_, err = timeout.RecvBytes(ctx, req)
		require.NoError(t, err)
		return <-seen
	}
	require.True(t, roundTrip(false), "a parked wait registers")
	require.False(t, roundTrip(true), "a hot wait leaves the netpoller")
	every = time.Hour
	require.True(t, roundTrip(false), "a parked wait registers again")
	assert.True(t, roundTrip(true), "left the netpoller twice within the interval")
}

// A hot wait holds the socket's lock inside libzmq, so a send from another
// goroutine (the leader/follower pattern of reliable.Client) ends it first:
// the send must not wait for the hot wait's bound (an hour here).
func TestHotWaitYieldsToAnotherGoroutinesSend(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	hotWaitForTest(t)
	c := zmqtest.Context(t)
	router, dealer := zmqtest.Pair(t, c, "tcp", zmq.ROUTER, zmq.DEALER)
	echo := func() {
		msg, err := router.RecvMessageBytes(0)
		if err == nil {
			router.SendMessage(msg)
		}
	}
	for range 20 { // recent waits short: the next wait is hot
		_, err := dealer.SendBytes([]byte("warm"), 0)
		require.NoError(t, err)
		echo()
		_, err = dealer.RecvBytes(0)
		require.NoError(t, err)
	}
	hot := firstHotWait(dealer)
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := timeout.RecvBytes(ctx, dealer)
		if err == nil && string(b) != "late" {
			err = errors.New("got " + string(b))
		}
		got <- err
	}()
	awaitHotWait(t, hot)
	start := time.Now()
	_, err := dealer.SendBytes([]byte("late"), zmq.DONTWAIT)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "the send waited for the hot wait's bound")
	echo()
	require.NoError(t, <-got, "the receiver missed the reply to the other goroutine's send")
}

// A hot wait ends at its bound and the receive parks: the reply here comes
// only once it has parked.
func TestHotWaitParksAtItsBound(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	zmq.SetHotTuning(20*time.Millisecond, 0, time.Hour, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hot := firstHotWait(req)
	parked := firstPark(req)
	_, err := req.SendBytes([]byte("q"), 0)
	require.NoError(t, err)
	_, err = rep.RecvBytes(0)
	require.NoError(t, err)
	start := time.Now()
	go func() {
		select {
		case <-parked:
			rep.SendBytes([]byte("a"), 0)
		case <-ctx.Done():
		}
	}()
	_, err = timeout.RecvBytes(ctx, req)
	require.NoError(t, err, "the hot wait never ended at its bound")
	select {
	case <-hot:
	default:
		t.Fatal("the receive never waited hot")
	}
	el := time.Since(start)
	assert.GreaterOrEqual(t, el, 20*time.Millisecond)
	assert.Less(t, el, 20*time.Millisecond+2*time.Second)
}

// Signals that interrupt libzmq's poll(2) during a hot wait (Go's own
// preemption signal, here sent to every thread of the process) are not
// the application's EINTR, even with retries after EINTR off.
func TestHotWaitHidesStraySignals(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	req, rep := hotREQ(t)
	zmq.SetRetryAfterEINTR(false)
	t.Cleanup(func() { zmq.SetRetryAfterEINTR(true) })
	hot := firstHotWait(req)
	_, err := req.SendBytes([]byte("q"), 0)
	require.NoError(t, err)
	_, err = rep.RecvBytes(0)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-hot:
		case <-time.After(10 * time.Second):
			return
		}
		for range 50 {
			signalEveryThread(t, syscall.SIGURG)
			time.Sleep(time.Millisecond)
		}
		rep.SendBytes([]byte("a"), 0)
	}()
	require.NoError(t, req.SetRcvtimeo(10*time.Second)) // backstop
	b, err := req.RecvBytes(0)
	<-done
	require.NoError(t, err)
	assert.Equal(t, "a", string(b))
}

// signalEveryThread sends sig to each thread of the process.
func signalEveryThread(t *testing.T, sig syscall.Signal) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	for _, task := range tasks {
		var tid int
		if _, err := fmt.Sscan(task.Name(), &tid); err == nil {
			syscall.Tgkill(os.Getpid(), tid, sig)
		}
	}
}
