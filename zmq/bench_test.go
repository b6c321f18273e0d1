package zmq_test

// Side-by-side benchmarks of raw pebbe/zmq4 and zmqguard, in one run:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./zmq/ | tee bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl bench.txt
//
// impl=pebbe is pebbe/zmq4's blocking SendBytes/RecvBytes; impl=zmqguard is
// zmqguard's (non-blocking try, then the netpoller); impl=zmqguard-deadline
// is zmqguard's RecvBytes with SetRcvtimeo set, so every receive carries a
// deadline. Besides ns/op and msgs/s, each reports the process's CPU time
// per message (cpu-ns/msg, libzmq's I/O threads included), which varies far
// less than wall time when the machine is shared.

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/zmq"
)

var benchSeq atomic.Uint64

func benchEndpoint(tr string) string {
	if tr == "inproc" {
		return fmt.Sprintf("inproc://bench-%d", benchSeq.Add(1))
	}
	return "tcp://127.0.0.1:*"
}

// pebbeSockets returns a bound and a connected raw pebbe/zmq4 socket in a
// fresh pebbe context; cleanup closes them and terminates the context.
func pebbeSockets(tb testing.TB, tr string, bindT, connT zmq4.Type) (bound, conn *zmq4.Socket, cleanup func()) {
	tb.Helper()
	ctx, err := zmq4.NewContext()
	require.NoError(tb, err)
	bound, err = ctx.NewSocket(bindT)
	require.NoError(tb, err)
	conn, err = ctx.NewSocket(connT)
	require.NoError(tb, err)
	for _, s := range []*zmq4.Socket{bound, conn} {
		require.NoError(tb, s.SetLinger(0))
	}
	require.NoError(tb, bound.Bind(benchEndpoint(tr)))
	ep, err := bound.GetLastEndpoint()
	require.NoError(tb, err)
	require.NoError(tb, conn.Connect(ep))
	return bound, conn, func() {
		bound.Close()
		conn.Close()
		ctx.Term()
	}
}

// guardSockets is pebbeSockets for zmqguard.
func guardSockets(tb testing.TB, tr string, bindT, connT zmq.Type) (bound, conn *zmq.Socket, cleanup func()) {
	tb.Helper()
	ctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(tb, err)
	bound, err = ctx.NewSocket(bindT)
	require.NoError(tb, err)
	conn, err = ctx.NewSocket(connT)
	require.NoError(tb, err)
	require.NoError(tb, bound.Bind(benchEndpoint(tr)))
	ep, err := bound.GetLastEndpoint()
	require.NoError(tb, err)
	require.NoError(tb, conn.Connect(ep))
	return bound, conn, func() { ctx.Term() }
}

// processCPU returns the CPU time the process has used so far, libzmq's
// I/O threads included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// throughput runs b.N messages from a sender goroutine to the benchmark
// goroutine and reports messages per second.
func throughput(b *testing.B, size int, send func([]byte) error, recv func() error) {
	msg := make([]byte, size)
	// Warm up: the connection is established before the clock starts.
	require.NoError(b, send(msg))
	require.NoError(b, recv())
	b.SetBytes(int64(size))
	b.ReportAllocs()
	done := make(chan error, 1)
	b.ResetTimer()
	cpu := processCPU()
	go func() {
		for range b.N {
			if err := send(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if err := recv(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	require.NoError(b, <-done)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// CPU per message is steadier than wall time on a shared machine.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/msg")
}

func BenchmarkPushPull(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		for _, size := range []int{16, 1024} {
			prefix := fmt.Sprintf("transport=%s/size=%dB", tr, size)
			b.Run(prefix+"/impl=pebbe", func(b *testing.B) {
				pull, push, cleanup := pebbeSockets(b, tr, zmq4.PULL, zmq4.PUSH)
				defer cleanup()
				throughput(b, size,
					func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
					func() error { _, err := pull.RecvBytes(0); return err })
			})
			b.Run(prefix+"/impl=zmqguard", func(b *testing.B) {
				pull, push, cleanup := guardSockets(b, tr, zmq.PULL, zmq.PUSH)
				defer cleanup()
				throughput(b, size,
					func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
					func() error { _, err := pull.RecvBytes(0); return err })
			})
			b.Run(prefix+"/impl=zmqguard-deadline", func(b *testing.B) {
				pull, push, cleanup := guardSockets(b, tr, zmq.PULL, zmq.PUSH)
				defer cleanup()
				require.NoError(b, pull.SetRcvtimeo(10*time.Second))
				throughput(b, size,
					func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
					func() error { _, err := pull.RecvBytes(0); return err })
			})
		}
	}
}

// roundTrip runs b.N requests against an echo server goroutine.
func roundTrip(b *testing.B, request func() error, serve func() error) {
	done := make(chan error, 1)
	go func() {
		for range b.N + 1 {
			if err := serve(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	require.NoError(b, request()) // warm up
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for range b.N {
		if err := request(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	require.NoError(b, <-done)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reqs/s")
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/req")
}

func BenchmarkReqRep(b *testing.B) {
	msg := make([]byte, 16)
	b.Run("transport=tcp/impl=pebbe", func(b *testing.B) {
		rep, req, cleanup := pebbeSockets(b, "tcp", zmq4.REP, zmq4.REQ)
		defer cleanup()
		roundTrip(b,
			func() error {
				if _, err := req.SendBytes(msg, 0); err != nil {
					return err
				}
				_, err := req.RecvBytes(0)
				return err
			},
			func() error {
				m, err := rep.RecvBytes(0)
				if err == nil {
					_, err = rep.SendBytes(m, 0)
				}
				return err
			})
	})
	b.Run("transport=tcp/impl=zmqguard", func(b *testing.B) {
		rep, req, cleanup := guardSockets(b, "tcp", zmq.REP, zmq.REQ)
		defer cleanup()
		roundTrip(b,
			func() error {
				if _, err := req.SendBytes(msg, 0); err != nil {
					return err
				}
				_, err := req.RecvBytes(0)
				return err
			},
			func() error {
				m, err := rep.RecvBytes(0)
				if err == nil {
					_, err = rep.SendBytes(m, 0)
				}
				return err
			})
	})
}

// allocsPer measures the allocations of one call of f, averaged over many
// calls, in this goroutine only (nothing else runs meanwhile).
func allocsPer(f func()) float64 { return testing.AllocsPerRun(200, f) }

// opAllocs are one library's allocations per message for each operation.
type opAllocs map[string]float64

func pebbeAllocs(t *testing.T) opAllocs {
	pull, push, cleanup := pebbeSockets(t, "inproc", zmq4.PULL, zmq4.PUSH)
	defer cleanup()
	for _, s := range []*zmq4.Socket{pull, push} {
		require.NoError(t, s.SetSndhwm(0))
		require.NoError(t, s.SetRcvhwm(0))
	}
	data, str := make([]byte, 16), "0123456789abcdef"
	out := opAllocs{}
	must := func(_ any, err error) { require.NoError(t, err) }
	out["SendBytes"] = allocsPer(func() { must(push.SendBytes(data, 0)) })
	out["RecvBytes"] = allocsPer(func() { must(pull.RecvBytes(0)) })
	out["Send(string)"] = allocsPer(func() { must(push.Send(str, 0)) })
	out["Recv"] = allocsPer(func() { must(pull.Recv(0)) })
	out["SendMessage(4)"] = allocsPer(func() { must(push.SendMessage(data, data, data, data)) })
	out["RecvMessageBytes(4)"] = allocsPer(func() { must(pull.RecvMessageBytes(0)) })
	return out
}

func guardAllocs(t *testing.T, opts ...zmq.ContextOption) opAllocs {
	ctx, err := zmq.NewContext(append([]zmq.ContextOption{zmq.WithLinger(0)}, opts...)...)
	require.NoError(t, err)
	defer ctx.Term()
	pull, err := ctx.NewSocket(zmq.PULL)
	require.NoError(t, err)
	push, err := ctx.NewSocket(zmq.PUSH)
	require.NoError(t, err)
	for _, s := range []*zmq.Socket{pull, push} {
		require.NoError(t, s.SetSndhwm(0))
		require.NoError(t, s.SetRcvhwm(0))
	}
	ep := benchEndpoint("inproc")
	require.NoError(t, pull.Bind(ep))
	require.NoError(t, push.Connect(ep))
	data, str := make([]byte, 16), "0123456789abcdef"
	out := opAllocs{}
	must := func(_ any, err error) { require.NoError(t, err) }
	out["SendBytes"] = allocsPer(func() { must(push.SendBytes(data, 0)) })
	out["RecvBytes"] = allocsPer(func() { must(pull.RecvBytes(0)) })
	out["Send(string)"] = allocsPer(func() { must(push.Send(str, 0)) })
	out["Recv"] = allocsPer(func() { must(pull.Recv(0)) })
	out["SendMessage(4)"] = allocsPer(func() { must(push.SendMessage(data, data, data, data)) })
	out["RecvMessageBytes(4)"] = allocsPer(func() { must(pull.RecvMessageBytes(0)) })
	return out
}

// TestAllocsNoWorseThanPebbe: per message, zmqguard allocates no more than
// pebbe/zmq4 for each operation (measured in the same run).
func TestAllocsNoWorseThanPebbe(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	pebbe := pebbeAllocs(t)
	guard := guardAllocs(t)
	for op, p := range pebbe {
		t.Logf("%-20s pebbe %4.1f  zmqguard %4.1f", op, p, guard[op])
		assert.LessOrEqual(t, guard[op], p, "%s: zmqguard allocates more than pebbe/zmq4", op)
	}
}
