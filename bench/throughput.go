package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	gozmq "github.com/go-zeromq/zmq4"
	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

var epSeq atomic.Uint64

// bindEndpoint returns an endpoint to bind for a transport, and a cleanup
// that removes an ipc socket file.
func bindEndpoint(tr string) (string, func()) {
	n := epSeq.Add(1)
	switch tr {
	case "inproc":
		return fmt.Sprintf("inproc://zgbench-%d", n), func() {}
	case "ipc":
		p := filepath.Join(os.TempDir(), fmt.Sprintf("zgbench-%d-%d.sock", os.Getpid(), n))
		return "ipc://" + p, func() { os.Remove(p) }
	default:
		return "tcp://127.0.0.1:*", func() {}
	}
}

// pair is a bound and a connected socket of some implementation, with the
// functions a measurement needs.
type pair struct {
	send  func([]byte) error
	recv  func() error
	close func()
}

func pebbePair(tr string, bindT, connT zmq4.Type) (bound, conn *zmq4.Socket, closeAll func(), err error) {
	ctx, err := zmq4.NewContext()
	if err != nil {
		return nil, nil, nil, err
	}
	ep, rm := bindEndpoint(tr)
	closeAll = func() {
		if bound != nil {
			bound.Close()
		}
		if conn != nil {
			conn.Close()
		}
		ctx.Term()
		rm()
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if bound, err = ctx.NewSocket(bindT); err != nil {
		return
	}
	if conn, err = ctx.NewSocket(connT); err != nil {
		return
	}
	bound.SetLinger(0)
	conn.SetLinger(0)
	if err = bound.Bind(ep); err != nil {
		return
	}
	if ep, err = bound.GetLastEndpoint(); err != nil {
		return
	}
	err = conn.Connect(ep)
	return
}

func guardPair(tr string, bindT, connT zmq.Type) (bound, conn *zmq.Socket, closeAll func(), err error) {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return nil, nil, nil, err
	}
	ep, rm := bindEndpoint(tr)
	closeAll = func() { zctx.Term(); rm() }
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if bound, err = zctx.NewSocket(bindT); err != nil {
		return
	}
	if conn, err = zctx.NewSocket(connT); err != nil {
		return
	}
	if err = bound.Bind(ep); err != nil {
		return
	}
	if ep, err = bound.GetLastEndpoint(); err != nil {
		return
	}
	err = conn.Connect(ep)
	return
}

// gozmqPair binds a go-zeromq socket on a free loopback port and connects
// another to it.
func gozmqPair(bind, conn func(context.Context, ...gozmq.Option) gozmq.Socket) (b, c gozmq.Socket, closeAll func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	b, c = bind(ctx), conn(ctx)
	closeAll = func() { c.Close(); b.Close(); cancel() }
	if err = b.Listen("tcp://127.0.0.1:0"); err != nil {
		closeAll()
		return
	}
	if err = c.Dial("tcp://" + b.Addr().String()); err != nil {
		closeAll()
	}
	return
}

// measureStream sends n messages of size from a goroutine to the caller's
// goroutine after one warm-up message and returns the elapsed time and the
// Go heap allocations per message (both sides).
func measureStream(p pair, size, n int) (map[string]float64, error) {
	closeAll := sync.OnceFunc(p.close) // also what ends a blocked sender
	defer closeAll()
	msg := make([]byte, size)
	if err := p.send(msg); err != nil {
		return nil, err
	}
	if err := p.recv(); err != nil {
		return nil, err
	}
	return timeStream(n, 1, func(int) error { return p.send(msg) },
		func(int) (int, error) { return 1, p.recv() }, closeAll)
}

// timeStream times a stream of n frames: a goroutine sends them with
// send, batch at a time, while recv receives them here (at most want per
// call, reporting how many it took). It returns the stream's result once
// the sender is done, also after a failed receive: unblock (when not nil)
// then ends a send that would wait for ever; without it, send must be
// bounded.
func timeStream(n, batch int, send func(k int) error, recv func(want int) (int, error), unblock func()) (map[string]float64, error) {
	done := make(chan error, 1)
	m0 := mallocs()
	start := time.Now()
	go func() {
		for left := n; left > 0; {
			k := min(left, batch)
			if err := send(k); err != nil {
				done <- err
				return
			}
			left -= k
		}
		done <- nil
	}()
	for got := 0; got < n; {
		k, err := recv(min(n-got, batch))
		if err != nil {
			if unblock != nil {
				unblock()
			}
			<-done
			return nil, err
		}
		got += k
	}
	el := time.Since(start)
	if err := <-done; err != nil {
		return nil, err
	}
	return streamResult(n, el, m0), nil
}

// streamResult is a stream's rate and its Go allocations per message,
// from its elapsed time and mallocs() read when the clock started.
func streamResult(n int, el time.Duration, m0 uint64) map[string]float64 {
	return map[string]float64{
		"msgs/s":     float64(n) / el.Seconds(),
		"allocs/msg": float64(mallocs()-m0) / float64(n),
	}
}

func throughputRows() []Row {
	var rows []Row
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		for _, size := range []int{16, 1024, 65536} {
			count := func(cfg *Config) int {
				switch size {
				case 16:
					return cfg.n(100000, 8000)
				case 1024:
					return cfg.n(50000, 4000)
				default:
					return cfg.n(5000, 300)
				}
			}
			vs := []Variant{
				{"pebbe", func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := pebbePair(tr, zmq4.PULL, zmq4.PUSH)
					if err != nil {
						return nil, err
					}
					return measureStream(pair{
						send:  func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
						recv:  func() error { _, err := pull.RecvBytes(0); return err },
						close: cl,
					}, size, count(cfg))
				}},
				{"zmqguard zmq/", func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
					if err != nil {
						return nil, err
					}
					return measureStream(pair{
						send:  func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
						recv:  func() error { _, err := pull.RecvBytes(0); return err },
						close: cl,
					}, size, count(cfg))
				}},
				{"zmqguard timeout/ (ctx deadline)", func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
					if err != nil {
						return nil, err
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
					return measureStream(pair{
						send:  func(m []byte) error { return timeout.SendBytes(ctx, push, m) },
						recv:  func() error { _, err := timeout.RecvBytes(ctx, pull); return err },
						close: func() { cancel(); cl() },
					}, size, count(cfg))
				}},
				{"zmqguard zmq/ SetRcvtimeo", func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
					if err != nil {
						return nil, err
					}
					if err := pull.SetRcvtimeo(time.Hour); err != nil {
						cl()
						return nil, err
					}
					return measureStream(pair{
						send:  func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
						recv:  func() error { _, err := pull.RecvBytes(0); return err },
						close: cl,
					}, size, count(cfg))
				}},
			}
			if tr == "tcp" {
				vs = append(vs, Variant{"go-zeromq", func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := gozmqPair(gozmq.NewPull, gozmq.NewPush)
					if err != nil {
						return nil, err
					}
					return measureStream(pair{
						send:  func(m []byte) error { return push.Send(gozmq.NewMsg(m)) },
						recv:  func() error { _, err := pull.Recv(); return err },
						close: cl,
					}, size, count(cfg))
				}})
			}
			vs = append(vs, Variant{"C libzmq (ceiling)", func(cfg *Config) (map[string]float64, error) { return cCeiling(tr, size, count(cfg)) }})
			rows = append(rows, Row{
				Name:     fmt.Sprintf("push-pull/%s/%s", tr, sizeName(size)),
				Note:     "PUSH->PULL throughput, one sender goroutine, one receiver; allocs/msg counts Go heap allocations of both sides",
				Metrics:  []Metric{{"msgs/s", true, 0}, {"allocs/msg", false, 0.5}},
				Baseline: "pebbe",
				Variants: vs,
			})
		}
	}
	return rows
}

// cCeiling runs the C loop over tr.
func cCeiling(tr string, size, n int) (map[string]float64, error) {
	ep, rm := bindEndpoint(tr)
	defer rm()
	el, err := cPushPull(ep, size, n)
	if err != nil {
		return nil, err
	}
	return map[string]float64{"msgs/s": float64(n) / el.Seconds()}, nil
}

func sizeName(size int) string {
	if size >= 1024 {
		return fmt.Sprintf("%dKiB", size/1024)
	}
	return fmt.Sprintf("%dB", size)
}
