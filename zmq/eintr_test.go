package zmq_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	ztimeout "github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// signalStorm interrupts threads the way Go's asynchronous preemption does
// (the runtime sends SIGURG to the thread running a goroutine; a thread
// blocked in a system call then gets EINTR), only far more often: every
// millisecond it sends SIGURG to each thread in tids and to the process.
// With busy, it also keeps every P busy with spinning goroutines and a GC
// loop, so that real preemption happens too. stop ends it and waits.
func signalStorm(tids <-chan int, busy bool) (stop func()) {
	var wg sync.WaitGroup
	quit := make(chan struct{})
	pid := syscall.Getpid()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var targets []int
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case tid := <-tids:
				targets = append(targets, tid)
			case <-tick.C:
				for _, tid := range targets {
					syscall.Tgkill(pid, tid, syscall.SIGURG)
				}
				syscall.Kill(pid, syscall.SIGURG)
			}
		}
	}()
	if busy {
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := 0
				for {
					select {
					case <-quit:
						return
					default:
					}
					for i := range 100000 {
						x += i
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-quit:
					return
				case <-time.After(2 * time.Millisecond):
					runtime.GC()
				}
			}
		}()
	}
	return func() { close(quit); wg.Wait() }
}

// TestNoEINTRUnderPreemption runs blocking receives with deadlines on busy
// sockets while threads are interrupted constantly: no EINTR ever reaches
// the caller and no deadline stretches. The same storm on a pebbe/zmq4
// socket stretches its timeout (retry on, pebbe's default) or returns
// EINTR (retry off).
func TestNoEINTRUnderPreemption(t *testing.T) {
	const timeout = 20 * time.Millisecond
	for _, storm := range []struct {
		name string
		busy bool
		// Slack for a loaded 2-core machine under -race (with every P
		// spinning, a woken goroutine can wait tens of ms for a P); a
		// stretched deadline would grow with the storm instead.
		slack time.Duration
	}{
		{"signals", false, 100 * time.Millisecond},
		{"signals+spin+gc", true, 300 * time.Millisecond},
	} {
		t.Run(storm.name, func(t *testing.T) { noEINTR(t, timeout, storm.busy, storm.slack) })
	}
}

func noEINTR(t *testing.T, timeout time.Duration, busy bool, slack time.Duration) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(timeout))

		tids := make(chan int, 1)
		stop := signalStorm(tids, busy)
		defer stop()

		// A bursty sender: pauses longer than the timeout now and then,
		// so receives both succeed and time out.
		var sendWG sync.WaitGroup
		senderDone := make(chan struct{})
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			for i := 0; ; i++ {
				select {
				case <-senderDone:
					return
				case <-time.After(time.Duration(rand.IntN(40)) * time.Millisecond):
				}
				if _, err := push.SendMessage("m", i); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()

		var got, timeouts int
		var worst time.Duration
		func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- syscall.Gettid()
			end := time.Now().Add(400 * time.Millisecond)
			for time.Now().Before(end) || got == 0 || timeouts == 0 {
				start := time.Now()
				msg, err := pull.RecvMessage(0)
				el := time.Since(start)
				switch {
				case err == nil:
					require.Len(t, msg, 2)
					got++
				case errors.Is(err, os.ErrDeadlineExceeded):
					timeouts++
					worst = max(worst, el)
					require.GreaterOrEqual(t, el, timeout, "a deadline never ends early")
					require.Less(t, el, timeout+slack, "a deadline never stretches")
				default:
					require.NotErrorIs(t, err, syscall.EINTR)
					require.NoError(t, err)
				}
			}
			// The same through a context deadline (package timeout's
			// receive, on the same engine).
			for range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				start := time.Now()
				_, err := ztimeout.RecvBytes(ctx, pull)
				el := time.Since(start)
				cancel()
				if err == nil {
					continue
				}
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.Less(t, el, timeout+slack)
			}
		}()
		close(senderDone)
		sendWG.Wait()
		t.Logf("%s: %d messages, %d timeouts, worst timed-out call %v (timeout %v)", tr, got, timeouts, worst, timeout)
	})
}

// pebbeUnderStorm receives on a raw pebbe/zmq4 socket with a receive
// timeout while its thread is interrupted every millisecond for window.
func pebbeUnderStorm(t *testing.T, retry bool, timeout, window time.Duration) (time.Duration, error) {
	t.Helper()
	ctx, err := zmq4.NewContext()
	require.NoError(t, err)
	ctx.SetRetryAfterEINTR(retry)
	s, err := ctx.NewSocket(zmq4.PULL)
	require.NoError(t, err)
	defer func() {
		s.Close()
		ctx.Term()
	}()
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.Bind("inproc://pebbe-eintr"))
	require.NoError(t, s.SetRcvtimeo(timeout))

	tids := make(chan int, 1)
	var el time.Duration
	var recvErr error
	received := make(chan struct{})
	go func() {
		defer close(received)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- syscall.Gettid()
		start := time.Now()
		_, recvErr = s.RecvBytes(0)
		el = time.Since(start)
	}()
	stop := signalStorm(tids, false)
	select {
	case <-received:
	case <-time.After(window):
	}
	stop()
	<-received
	return el, recvErr
}

func TestPebbeEINTRUnderPreemption(t *testing.T) {
	const timeout, window = 50 * time.Millisecond, 400 * time.Millisecond
	el, err := pebbeUnderStorm(t, true, timeout, window)
	t.Logf("pebbe/zmq4, retry after EINTR on (its default): %v timeout returned after %v: %v", timeout, el, err)
	assert.Equal(t, zmq4.Errno(syscall.EAGAIN), err)
	assert.Greater(t, el, window/2, "pebbe restarts the timeout after each EINTR: the deadline stretches")

	// A signal must land while the call blocks; on a loaded machine the
	// storm's thread may not run in time, so a few tries.
	for try := 1; ; try++ {
		el, err = pebbeUnderStorm(t, false, timeout, window)
		t.Logf("pebbe/zmq4, retry after EINTR off (try %d): returned after %v: %v", try, el, err)
		if err != zmq4.Errno(syscall.EAGAIN) || try == 5 {
			break
		}
	}
	assert.Equal(t, zmq4.Errno(syscall.EINTR), err, "pebbe surfaces EINTR")
	assert.Less(t, el, timeout)
}

// TestDefaultContextKeepsPebbeEINTRSetting: zmqguard's default context is
// pebbe/zmq4's, which pebbe-based code (and pebbe's ZAP handler, which
// quits on any receive error) keeps using. zmqguard must not switch its
// EINTR retries off behind their back.
func TestDefaultContextKeepsPebbeEINTRSetting(t *testing.T) {
	require.True(t, zmq4.GetRetryAfterEINTR())
	s, err := zmq.NewSocket(zmq.PAIR)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.True(t, zmq4.GetRetryAfterEINTR(), "pebbe's default context still retries")
	assert.True(t, zmq.GetRetryAfterEINTR())

	zmq.SetRetryAfterEINTR(false)
	assert.False(t, zmq4.GetRetryAfterEINTR(), "the setting is shared, as the context is")
	assert.False(t, zmq.GetRetryAfterEINTR())
	zmq.SetRetryAfterEINTR(true)
	assert.True(t, zmq4.GetRetryAfterEINTR())

	c := zmqtest.Context(t)
	assert.True(t, c.GetRetryAfterEINTR())
	assert.False(t, c.Raw().GetRetryAfterEINTR(), "own contexts: zmqguard retries itself, keeping deadlines")
}
