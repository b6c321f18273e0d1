package reliable_test

import (
	"context"
	"sync"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
)

// benchEcho runs the baseline echo server (zmqtest.PebbeEcho) and returns
// its endpoint.
func benchEcho(b *testing.B) string { return zmqtest.PebbeEcho(b, 1)[0] }

// BenchmarkRequestRate compares the happy-path request rate of
// reliable.Client with raw pebbe/zmq4 REQ over tcp, side by side:
//
//	go test -run '^$' -bench RequestRate -count 6 ./reliable/
func BenchmarkRequestRate(b *testing.B) {
	body := []byte("0123456789abcdef")
	b.Run("impl=pebbe-req/inflight=1", func(b *testing.B) {
		pebbeRequests(b, benchEcho(b), body)
	})
	for _, tc := range []struct {
		name     string
		mode     reliable.Mode
		inflight int
	}{
		{"impl=client-plain/inflight=1", reliable.Plain, 1},
		{"impl=client-correlated/inflight=1", reliable.Correlated, 1},
		{"impl=client-correlated/inflight=16", reliable.Correlated, 16},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ep := benchEcho(b)
			zctx := zmqtest.Context(b)
			c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithMode(tc.mode), reliable.WithAttemptTimeout(10*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Request(context.Background(), body); err != nil {
				b.Fatal(err)
			}
			clientRequests(b, c, body, tc.inflight)
		})
	}
}

// pebbeRequests runs b.N round trips of a raw pebbe/zmq4 REQ to ep, the
// baseline of the benchmarks, and reports req/s.
func pebbeRequests(b *testing.B, ep string, body []byte) {
	ctx, _ := zmq4.NewContext()
	defer ctx.Term()
	req, _ := ctx.NewSocket(zmq4.REQ)
	defer req.Close()
	req.SetLinger(0)
	req.Connect(ep)
	b.ResetTimer()
	for range b.N {
		if _, err := req.SendBytes(body, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := req.RecvBytes(0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// clientRequests runs about b.N requests through c from inflight
// goroutines and reports req/s.
func clientRequests(b *testing.B, c *reliable.Client, body []byte, inflight int) {
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + inflight - 1) / inflight
	for range inflight {
		wg.Go(func() {
			for range per {
				if _, err := c.Request(context.Background(), body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*inflight)/b.Elapsed().Seconds(), "req/s")
}
