package timeout_test

// Benchmarks side by side with raw pebbe/zmq4, in the same run:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./timeout/
//
// Recv: PUSH->PULL throughput of the receiving side. The producer is the
// same raw pebbe/zmq4 PUSH socket in every variant; only the receive
// differs: pebbe's blocking RecvBytes, timeout.RecvBytes under a ctx
// deadline far away, and timeout.RecvBytes under a ctx without deadline,
// bounded by the socket's receive timeout (SetRcvtimeo).
//
// ReqRep: REQ<->REP round trips over tcp, both ends of the same kind:
// pebbe's blocking SendBytes+RecvBytes against an echo server of pebbe's
// blocking calls, and timeout.Request against an echo server of zmqguard
// calls. p50-ns and p99-ns are the round trip's latency percentiles.
//
// RecvPaired and ReqRepPaired run the same variants alternating within one
// benchmark, so that drift of a shared machine hits them alike, and report
// the ratios directly (-x metrics).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// pebbeContext is a plain pebbe/zmq4 context, with pebbe's defaults
// (EINTR retried inside each call), terminated when the benchmark ends.
func pebbeContext(b *testing.B) *zmq4.Context {
	c, err := zmq4.NewContext()
	must(b, err)
	b.Cleanup(func() { c.Term() })
	return c
}

// rawSocket is a pebbe/zmq4 socket in c, closed when the benchmark ends
// (before c terminates).
func rawSocket(b *testing.B, c *zmq4.Context, t zmq4.Type) *zmq4.Socket {
	s, err := c.NewSocket(t)
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
				c := pebbeContext(b)
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
				benchRecv(b, c.Raw(), tr, size, pull.Bind, pull.GetLastEndpoint, recv)
			})
			b.Run(name+"/default", func(b *testing.B) {
				c := zmqtest.Context(b)
				s := zmqtest.Socket(b, c, zmq.PULL)
				must(b, s.SetRcvtimeo(time.Hour))
				ctx := context.Background()
				recv := func() error { _, err := timeout.RecvBytes(ctx, s); return err }
				benchRecv(b, c.Raw(), tr, size, s.Bind, s.GetLastEndpoint, recv)
			})
		}
	}
}

// benchRecv measures recv on a socket bound with bind, fed by a raw pebbe
// PUSH socket in c (the same libzmq context, as inproc requires).
func benchRecv(b *testing.B, c *zmq4.Context, tr string, size int,
	bind func(string) error, endpoint func() (string, error), recv func() error) {
	must(b, bind(zmqtest.Endpoint(b, tr)))
	ep, err := endpoint()
	must(b, err)
	push := rawSocket(b, c, zmq4.PUSH)
	must(b, push.Connect(ep))
	payload := make([]byte, size)
	// One message through, so tcp is connected before timing starts.
	must(b, send(push, payload))
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
			if err := send(push, payload); err != nil {
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

// send sends a frame on a raw pebbe socket, retrying EINTR: what pebbe's
// default does inside the call, done here because zmqguard contexts turn
// pebbe's retry off.
func send(s *zmq4.Socket, payload []byte) error {
	for {
		_, err := s.SendBytes(payload, 0)
		if zmq4.AsErrno(err) != zmq4.Errno(syscall.EINTR) {
			return err
		}
	}
}

func BenchmarkReqRep(b *testing.B) {
	payload := make([]byte, 16)
	b.Run("tcp/pebbe", func(b *testing.B) {
		c := pebbeContext(b)
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
			must(b, req.SetRcvtimeo(time.Hour))
			ctx := context.Background()
			return func() error { _, err := timeout.Request(ctx, req, payload); return err }
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

// The paired benchmarks run pebbe/zmq4 and zmqguard in the same iterations,
// alternating, so that both meet the same machine: on a shared two-core
// machine the separate benchmarks above drift by ±30% from one minute to
// the next. Their ratio metrics compare the variants directly; x > 1 means
// faster than pebbe.

// BenchmarkRecvPaired alternates batches of messages between the three
// receivers of BenchmarkRecv. One op is one message for each receiver.
func BenchmarkRecvPaired(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		for _, size := range []int{16, 1024} {
			b.Run(fmt.Sprintf("%s/%dB", tr, size), func(b *testing.B) {
				pc := pebbeContext(b)
				c := zmqtest.Context(b)
				rawPull := rawSocket(b, pc, zmq4.PULL)
				pull := zmqtest.Socket(b, c, zmq.PULL)
				ws := zmqtest.Socket(b, c, zmq.PULL)
				must(b, ws.SetRcvtimeo(time.Hour))
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				vs := []pairedRecv{
					{name: "pebbe", recv: func() error { _, err := rawPull.RecvBytes(0); return err }},
					{name: "deadline", recv: func() error { _, err := timeout.RecvBytes(ctx, pull); return err }},
					{name: "default", recv: func() error { _, err := timeout.RecvBytes(context.Background(), ws); return err }},
				}
				vs[0].push = feed(b, pc, tr, rawPull.Bind, rawPull.GetLastEndpoint)
				vs[1].push = feed(b, c.Raw(), tr, pull.Bind, pull.GetLastEndpoint)
				vs[2].push = feed(b, c.Raw(), tr, ws.Bind, ws.GetLastEndpoint)
				benchRecvPaired(b, size, vs)
			})
		}
	}
}

type pairedRecv struct {
	name    string
	push    *zmq4.Socket
	recv    func() error
	elapsed time.Duration
}

// feed binds a receiver and connects a raw pebbe PUSH socket to it.
func feed(b *testing.B, c *zmq4.Context, tr string, bind func(string) error, endpoint func() (string, error)) *zmq4.Socket {
	must(b, bind(zmqtest.Endpoint(b, tr)))
	ep, err := endpoint()
	must(b, err)
	push := rawSocket(b, c, zmq4.PUSH)
	must(b, push.Connect(ep))
	return push
}

func benchRecvPaired(b *testing.B, size int, vs []pairedRecv) {
	const batch = 1000
	payload := make([]byte, size)
	// One producer goroutine per receiver, sending a batch per token.
	var wg sync.WaitGroup
	tokens := make([]chan int, len(vs))
	for i := range vs {
		tokens[i] = make(chan int)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range tokens[i] {
				for range n {
					if err := send(vs[i].push, payload); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	defer wg.Wait()
	defer func() {
		for _, t := range tokens {
			close(t)
		}
	}()
	run := func(i, n int) {
		start := time.Now()
		tokens[i] <- n
		for range n {
			if err := vs[i].recv(); err != nil {
				b.Fatal(err)
			}
		}
		vs[i].elapsed += time.Since(start)
	}
	for i := range vs { // connect and warm up
		run(i, 100)
		vs[i].elapsed = 0
	}
	b.SetBytes(int64(size * len(vs)))
	b.ReportAllocs()
	b.ResetTimer()
	for k, left := 0, b.N; left > 0; k++ {
		n := min(batch, left)
		for j := range vs {
			run((j+k)%len(vs), n) // rotate the order from batch to batch
		}
		left -= n
	}
	b.StopTimer()
	base := vs[0].elapsed
	for _, v := range vs {
		b.ReportMetric(float64(v.elapsed.Nanoseconds())/float64(b.N), v.name+"-ns/msg")
		if v.name != vs[0].name {
			b.ReportMetric(float64(base)/float64(v.elapsed), v.name+"-x")
		}
	}
}

// BenchmarkReqRepPaired alternates round trips over tcp between pebbe's
// blocking calls, timeout.Request under a far ctx deadline and
// timeout.Request under a ctx without deadline, bounded by the socket's
// receive timeout. One op is one round trip of each.
//
// in-process: each client has its own echo server of the same kind in this
// process (as in BenchmarkReqRep). process: all three talk to one pebbe echo
// server in a child process, as a client usually does; this isolates the
// client's side.
func BenchmarkReqRepPaired(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		pc := pebbeContext(b)
		c := zmqtest.Context(b)
		rawRep := rawSocket(b, pc, zmq4.REP)
		must(b, rawRep.Bind("tcp://127.0.0.1:*"))
		rawEp, _ := rawRep.GetLastEndpoint()
		rawDone := serveRaw(rawRep)
		ourEp := func() string {
			rep := zmqtest.Socket(b, c, zmq.REP)
			ep := zmqtest.Bind(b, rep, "tcp")
			done := serveOurs(rep)
			b.Cleanup(func() { <-done })
			return ep
		}
		benchReqRepPaired(b, pc, c, rawEp, ourEp(), ourEp())
		<-rawDone
	})
	b.Run("process", func(b *testing.B) {
		ep := echoProcess(b)
		benchReqRepPaired(b, pebbeContext(b), zmqtest.Context(b), ep, ep, ep)
	})
}

// echoProcess starts this test binary as an echo server in a child process
// and returns its endpoint; the child ends when the benchmark does.
func echoProcess(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	must(b, err)
	stdout, err := cmd.StdoutPipe()
	must(b, err)
	must(b, testpeer.StartTied(b, cmd, nil)) // waited for by the cleanup below
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	must(b, err)
	ep := strings.TrimSpace(line)
	if !strings.HasPrefix(ep, "tcp://") {
		b.Fatalf("echo server: %q", ep)
	}
	return ep
}

// benchReqRepPaired runs the paired round trips against echo servers at
// the given endpoints. A server that sees an empty request stops (the
// in-process ones; the child process echoes it and goes on).
func benchReqRepPaired(b *testing.B, pc *zmq4.Context, c *zmq.Context, rawEp, deadlineEp, defaultEp string) {
	payload := make([]byte, 16)
	rawReq := rawSocket(b, pc, zmq4.REQ)
	must(b, rawReq.Connect(rawEp))
	dlReq := zmqtest.Socket(b, c, zmq.REQ)
	must(b, dlReq.Connect(deadlineEp))
	defReq := zmqtest.Socket(b, c, zmq.REQ)
	must(b, defReq.SetRcvtimeo(time.Hour))
	must(b, defReq.Connect(defaultEp))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()

	names := []string{"pebbe", "deadline", "default"}
	trips := []func() error{
		func() error {
			if _, err := rawReq.SendBytes(payload, 0); err != nil {
				return err
			}
			_, err := rawReq.RecvBytes(0)
			return err
		},
		func() error { _, err := timeout.Request(ctx, dlReq, payload); return err },
		func() error { _, err := timeout.Request(context.Background(), defReq, payload); return err },
	}
	for range 100 { // connect and warm up
		for _, trip := range trips {
			must(b, trip())
		}
	}
	lat := make([][]time.Duration, len(trips))
	for i := range lat {
		lat[i] = make([]time.Duration, b.N)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for k := range b.N {
		for j := range trips {
			i := (j + k) % len(trips) // rotate the order
			start := time.Now()
			if err := trips[i](); err != nil {
				b.Fatal(err)
			}
			lat[i][k] = time.Since(start)
		}
	}
	b.StopTimer()
	// Stop in-process servers.
	rawReq.SendBytes(nil, 0)
	rawReq.RecvBytes(0)
	timeout.Request(ctx, dlReq, []byte{})
	timeout.Request(ctx, defReq, []byte{})

	var p50, p99 []float64
	for i, l := range lat {
		slices.Sort(l)
		p50 = append(p50, float64(l[len(l)/2].Nanoseconds()))
		p99 = append(p99, float64(l[len(l)*99/100].Nanoseconds()))
		b.ReportMetric(p50[i], names[i]+"-p50-ns")
		b.ReportMetric(p99[i], names[i]+"-p99-ns")
	}
	for i := 1; i < len(trips); i++ {
		b.ReportMetric(p50[i]/p50[0], names[i]+"-p50-x")
		b.ReportMetric(p99[i]/p99[0], names[i]+"-p99-x")
	}
}
