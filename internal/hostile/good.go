package hostile

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// Good is the good client of a hostile-peer test: a reliable.Client, in
// the test's process, that makes requests one after another while the
// attack runs, and counts them. A request that is not answered, after its
// retries, or answered wrongly, is a failure.
type Good struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	stop       chan struct{}
	done       chan struct{}
}

// StartGood starts a good client of endpoint, on a context of its own,
// until Halt or the end of the test. Each request is one frame, "good N";
// want returns the reply that an answer to it must be (an echo server's:
// the request itself).
func StartGood(t testing.TB, endpoint string, want func(req string) string) *Good {
	t.Helper()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reliable.NewClient(zctx, []string{endpoint}, reliable.WithAttemptTimeout(2*time.Second), reliable.WithMaxAttempts(5))
	if err != nil {
		zctx.Term()
		t.Fatal(err)
	}
	g := &Good{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for i := 0; ; i++ {
			select {
			case <-g.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			body := fmt.Sprint("good ", i)
			rep, err := c.Request(ctx, []byte(body))
			cancel()
			if err == nil && (len(rep) != 1 || string(rep[0]) != want(body)) {
				err = fmt.Errorf("wrong reply %q to %q", rep, body)
			}
			if err != nil {
				g.failed.Add(1)
				g.lastErr.Store(err.Error())
				continue
			}
			g.ok.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		g.Halt()
		c.Close()
		_ = zctx.Term()
	})
	return g
}

// Halt stops the client's requests. Idempotent.
func (g *Good) Halt() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// Answered and Failed count the requests so far; LastErr is the last
// failure's text, if any.
func (g *Good) Answered() int64 { return g.ok.Load() }

// Failed counts the requests that were not answered, or answered wrongly.
func (g *Good) Failed() int64 { return g.failed.Load() }

// LastErr returns the text of the last failure, or nil.
func (g *Good) LastErr() any { return g.lastErr.Load() }

// Progress waits until n more requests have been answered, and fails the
// test after 30 s.
func (g *Good) Progress(t testing.TB, n int64, during string) {
	t.Helper()
	target := g.ok.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for g.ok.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("good client: not %d replies in 30 s during %s (%d failures, last: %v)", n, during, g.failed.Load(), g.lastErr.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
