package timeout_test

// Benchmarks side by side with raw pebbe/zmq4, in the same run:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./timeout/
//
// Recv: PUSH->PULL throughput of the receiving side. The producer is the
// same raw pebbe/zmq4 PUSH socket in every variant; only the receive
// differs: pebbe's blocking RecvBytes, timeout.RecvBytes under a ctx
// deadline far away, and a timeout.Socket's RecvBytes under its default
// receive timeout.
//
// ReqRep: REQ<->REP round trips over tcp, both ends of the same kind:
// pebbe's blocking SendBytes+RecvBytes against an echo server of pebbe's
// blocking calls, and timeout.Request against an echo server of zmqguard
// calls. p50-ns and p99-ns are the round trip's latency percentiles.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// rawSocket is a pebbe/zmq4 socket in c's libzmq context, closed when the
// benchmark ends (before c terminates).
func rawSocket(b *testing.B, c *zmq.Context, t zmq4.Type) *zmq4.Socket {
	s, err := c.Raw().NewSocket(t)
	if err != nil {
		b.Fatal(err)
	}
	s.SetLinger(0)
	b.Cleanup(func() { s.Close() })
	return s
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRecv(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		for _, size := range []int{16, 1024} {
			name := fmt.Sprintf("%s/%dB", tr, size)
			b.Run(name+"/pebbe", func(b *testing.B) {
				c := zmqtest.Context(b)
				pull := rawSocket(b, c, zmq4.PULL)
				recv := func() error { _, err := pull.RecvBytes(0); return err }
				benchRecv(b, c, tr, size, pull.Bind, pull.GetLastEndpoint, recv)
			})
			b.Run(name+"/deadline", func(b *testing.B) {
				c := zmqtest.Context(b)
				pull := zmqtest.Socket(b, c, zmq.PULL)
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				recv := func() error { _, err := timeout.RecvBytes(ctx, pull); return err }
				benchRecv(b, c, tr, size, pull.Bind, pull.GetLastEndpoint, recv)
			})
			b.Run(name+"/default", func(b *testing.B) {
				c := zmqtest.Context(b)
				s, err := timeout.New(zmqtest.Socket(b, c, zmq.PULL), timeout.WithRecvTimeout(time.Hour))
				must(b, err)
				recv := func() error { _, err := s.RecvBytes(0); return err }
				benchRecv(b, c, tr, size, s.Bind, s.GetLastEndpoint, recv)
			})
		}
	}
}

func benchRecv(b *testing.B, c *zmq.Context, tr string, size int,
	bind func(string) error, endpoint func() (string, error), recv func() error) {
	must(b, bind(zmqtest.Endpoint(b, tr)))
	ep, err := endpoint()
	must(b, err)
	push := rawSocket(b, c, zmq4.PUSH)
	must(b, push.Connect(ep))
	payload := make([]byte, size)
	// One message through, so tcp is connected before timing starts.
	_, err = push.SendBytes(payload, 0)
	must(b, err)
	must(b, recv())

	var wg sync.WaitGroup
	wg.Add(1)
	n := b.N
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		defer wg.Done()
		for range n {
			if _, err := push.SendBytes(payload, 0); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	for range n {
		if err := recv(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	wg.Wait()
}

func BenchmarkReqRep(b *testing.B) {
	payload := make([]byte, 16)
	b.Run("tcp/pebbe", func(b *testing.B) {
		c := zmqtest.Context(b)
		rep := rawSocket(b, c, zmq4.REP)
		must(b, rep.Bind("tcp://127.0.0.1:*"))
		ep, _ := rep.GetLastEndpoint()
		done := serveRaw(rep)
		req := rawSocket(b, c, zmq4.REQ)
		must(b, req.Connect(ep))
		benchRoundTrips(b, func() error {
			if _, err := req.SendBytes(payload, 0); err != nil {
				return err
			}
			_, err := req.RecvBytes(0)
			return err
		})
		req.SendBytes(nil, 0) // stop the server
		req.RecvBytes(0)
		<-done
	})
	// ours benchmarks the round trip that mk makes for a zmqguard REQ socket.
	ours := func(b *testing.B, mk func(req *zmq.Socket) func() error) {
		c := zmqtest.Context(b)
		rep := zmqtest.Socket(b, c, zmq.REP)
		ep := zmqtest.Bind(b, rep, "tcp")
		done := serveOurs(rep)
		req := zmqtest.Socket(b, c, zmq.REQ)
		must(b, req.Connect(ep))
		benchRoundTrips(b, mk(req))
		timeout.Request(context.Background(), req, []byte{}) // stop the server
		<-done
	}
	b.Run("tcp/Request-deadline", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		ours(b, func(req *zmq.Socket) func() error {
			return func() error { _, err := timeout.Request(ctx, req, payload); return err }
		})
	})
	b.Run("tcp/Request-default", func(b *testing.B) {
		ours(b, func(req *zmq.Socket) func() error {
			s, err := timeout.New(req, timeout.WithRecvTimeout(time.Hour))
			must(b, err)
			ctx := context.Background()
			return func() error { _, err := s.Request(ctx, payload); return err }
		})
	})
}

// serveRaw echoes on a pebbe REP socket until an empty request.
func serveRaw(rep *zmq4.Socket) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := rep.RecvBytes(0)
			if err != nil {
				return
			}
			if _, err := rep.SendBytes(m, 0); err != nil || len(m) == 0 {
				return
			}
		}
	}()
	return done
}

// serveOurs echoes on a zmqguard REP socket until an empty request.
func serveOurs(rep *zmq.Socket) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		for {
			m, err := timeout.RecvBytes(ctx, rep)
			if err != nil {
				return
			}
			if err := timeout.SendBytes(ctx, rep, m); err != nil || len(m) == 0 {
				return
			}
		}
	}()
	return done
}

func benchRoundTrips(b *testing.B, roundTrip func() error) {
	for range 100 { // connect and warm up
		must(b, roundTrip())
	}
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range lat {
		start := time.Now()
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
