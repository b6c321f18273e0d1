package reliable_test

import (
	"context"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
)

// BenchmarkBalancedRequestRate compares the request rate with 16 requests
// in flight across 3 replicas against 1 replica (raw pebbe/zmq4 echo
// servers, the same for every variant), and against a raw pebbe DEALER
// that keeps 16 requests in flight on one replica:
//
//	go test -run '^$' -bench BalancedRequestRate -count 6 ./reliable/
//
// On a 2-core machine three replicas cannot answer faster than one: the
// ratio shows what balancing costs, not a speed-up. Three echo servers
// are three ROUTER sockets, contexts and I/O threads on the two cores;
// "replicas=3x1" is one server bound to three endpoints, so that the
// client's side of balancing over three sockets is measured alone.
func BenchmarkBalancedRequestRate(b *testing.B) {
	body := []byte("0123456789abcdef")
	const inflight = 16
	b.Run("impl=pebbe-dealer/replicas=1/inflight=16", func(b *testing.B) {
		ep := benchEcho(b)
		ctx, _ := zmq4.NewContext()
		defer ctx.Term()
		d, _ := ctx.NewSocket(zmq4.DEALER)
		defer d.Close()
		d.SetLinger(0)
		d.Connect(ep)
		send := func() {
			if _, err := d.SendMessage("", body); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for range min(inflight, b.N) {
			send()
		}
		for i := range b.N {
			if _, err := d.RecvMessageBytes(0); err != nil {
				b.Fatal(err)
			}
			if i+inflight < b.N {
				send()
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
	for _, tc := range []struct {
		name     string
		replicas int
		oneProc  bool // the replicas are 3 endpoints of one echo server
		balancer reliable.Balancer
	}{
		{"impl=client/replicas=1/inflight=16", 1, false, reliable.HealthFirst},
		{"impl=client-round-robin/replicas=3x1/inflight=16", 3, true, reliable.RoundRobin},
		{"impl=client-health-first/replicas=3/inflight=16", 3, false, reliable.HealthFirst},
		{"impl=client-round-robin/replicas=3/inflight=16", 3, false, reliable.RoundRobin},
		{"impl=client-least-outstanding/replicas=3/inflight=16", 3, false, reliable.LeastOutstanding},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var eps discovery.Static
			if tc.oneProc {
				eps = benchEchoN(b, tc.replicas)
			} else {
				for range tc.replicas {
					eps = append(eps, benchEcho(b))
				}
			}
			zctx := zmqtest.Context(b)
			c, err := reliable.NewClientFor(zctx, eps, reliable.WithBalancer(tc.balancer), reliable.WithAttemptTimeout(10*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for len(c.Endpoints()) < tc.replicas { // resolved on the client's goroutine
				time.Sleep(time.Millisecond)
			}
			for range 10 * tc.replicas {
				if _, err := c.Request(context.Background(), body); err != nil {
					b.Fatal(err)
				}
			}
			clientRequests(b, c, body, inflight)
		})
	}
}

// benchEchoN runs one baseline echo server (zmqtest.PebbeEcho) bound to n
// endpoints and returns them.
func benchEchoN(b *testing.B, n int) discovery.Static {
	return discovery.Static(zmqtest.PebbeEcho(b, n))
}
