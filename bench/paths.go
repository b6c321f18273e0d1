package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	gozmq "github.com/go-zeromq/zmq4"
	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Allocations per message of one path at a time. A send path is measured
// alone: n messages go into a PULL socket that nobody reads, with unlimited
// high-water marks, so they pile up in libzmq's (C) queues. A receive path
// is then measured alone on the queue so filled. Only Go heap allocations
// are counted (runtime.MemStats.Mallocs); libzmq's own mallocs are not.

var parts4 = [][]byte{[]byte("part-one"), []byte("part-two"), []byte("part-three"), payload}

type sendRecv struct {
	send, recv func() error
}

func allocPaths(n int, sr sendRecv) (map[string]float64, error) {
	// Warm up both paths (lazily built state, first connection).
	for range 10 {
		if err := sr.send(); err != nil {
			return nil, err
		}
	}
	for range 10 {
		if err := sr.recv(); err != nil {
			return nil, err
		}
	}
	m0 := mallocs()
	for range n {
		if err := sr.send(); err != nil {
			return nil, err
		}
	}
	m1 := mallocs()
	for range n {
		if err := sr.recv(); err != nil {
			return nil, err
		}
	}
	m2 := mallocs()
	return map[string]float64{
		"send allocs/msg": float64(m1-m0) / float64(n),
		"recv allocs/msg": float64(m2-m1) / float64(n),
	}, nil
}

func pebbeAllocs(n int, multi bool) (map[string]float64, error) {
	pull, push, cl, err := pebbePair("inproc", zmq4.PULL, zmq4.PUSH)
	if err != nil {
		return nil, err
	}
	defer cl()
	pull.SetRcvhwm(0)
	push.SetSndhwm(0)
	if multi {
		return allocPaths(n, sendRecv{
			func() error { _, err := push.SendMessage(parts4); return err },
			func() error { _, err := pull.RecvMessageBytes(0); return err }})
	}
	return allocPaths(n, sendRecv{
		func() error { _, err := push.SendBytes(payload, 0); return err },
		func() error { _, err := pull.RecvBytes(0); return err }})
}

func guardAllocs(n int, multi, withTimeout bool) (map[string]float64, error) {
	pull, push, cl, err := guardPair("inproc", zmq.PULL, zmq.PUSH)
	if err != nil {
		return nil, err
	}
	defer cl()
	pull.SetRcvhwm(0)
	push.SetSndhwm(0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	switch {
	case multi && withTimeout:
		return allocPaths(n, sendRecv{
			func() error { return timeout.SendMessage(ctx, push, parts4) },
			func() error { _, err := timeout.RecvMessageBytes(ctx, pull); return err }})
	case multi:
		return allocPaths(n, sendRecv{
			func() error { _, err := push.SendMessage(parts4); return err },
			func() error { _, err := pull.RecvMessageBytes(0); return err }})
	case withTimeout:
		return allocPaths(n, sendRecv{
			func() error { return timeout.SendBytes(ctx, push, payload) },
			func() error { _, err := timeout.RecvBytes(ctx, pull); return err }})
	default:
		return allocPaths(n, sendRecv{
			func() error { _, err := push.SendBytes(payload, 0); return err },
			func() error { _, err := pull.RecvBytes(0); return err }})
	}
}

func gozmqAllocs(n int, multi bool) (map[string]float64, error) {
	pull, push, cl, err := gozmqPair(gozmq.NewPull, gozmq.NewPush)
	if err != nil {
		return nil, err
	}
	defer cl()
	if multi {
		return allocPaths(n, sendRecv{
			func() error { return push.SendMulti(gozmq.NewMsgFrom(parts4...)) },
			func() error { _, err := pull.Recv(); return err }})
	}
	return allocPaths(n, sendRecv{
		func() error { return push.Send(gozmq.NewMsg(payload)) },
		func() error { _, err := pull.Recv(); return err }})
}

// requestClient opens a client of the given kind on ep and returns its
// round trip (safe for concurrent use only for the reliable kinds) and a
// function that closes it.
func requestClient(ep, kind string) (rt func() error, closeFn func(), err error) {
	var closers []func()
	closeFn = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeFn()
		}
	}()
	switch kind {
	case "pebbe":
		ctx, err := zmq4.NewContext()
		if err != nil {
			return nil, nil, err
		}
		req, _ := ctx.NewSocket(zmq4.REQ)
		req.SetLinger(0)
		closers = append(closers, func() { req.Close(); ctx.Term() })
		if err := req.Connect(ep); err != nil {
			return nil, nil, err
		}
		rt = func() error {
			if _, err := req.SendBytes(payload, 0); err != nil {
				return err
			}
			_, err := req.RecvBytes(0)
			return err
		}
	case "zmq", "timeout":
		zctx, err := zmq.NewContext(zmq.WithLinger(0))
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { zctx.Term() })
		req, err := zctx.NewSocket(zmq.REQ)
		if err != nil {
			return nil, nil, err
		}
		if err := req.Connect(ep); err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		closers = append(closers, cancel)
		rt = func() error {
			if kind == "timeout" {
				_, err := timeout.Request(ctx, req, payload)
				return err
			}
			if _, err := req.SendBytes(payload, 0); err != nil {
				return err
			}
			_, err := req.RecvBytes(0)
			return err
		}
	case "reliable-plain", "reliable":
		zctx, err := zmq.NewContext(zmq.WithLinger(0))
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { zctx.Term() })
		mode := reliable.Correlated
		if kind == "reliable-plain" {
			mode = reliable.Plain
		}
		c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithMode(mode))
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { c.Close() })
		rt = func() error { _, err := c.Request(context.Background(), payload); return err }
	case "go-zeromq":
		ctx, cancel := context.WithCancel(context.Background())
		closers = append(closers, cancel)
		req := gozmq.NewReq(ctx)
		closers = append(closers, func() { req.Close() })
		if err := req.Dial(ep); err != nil {
			return nil, nil, err
		}
		rt = func() error {
			if err := req.Send(gozmq.NewMsg(payload)); err != nil {
				return err
			}
			_, err := req.Recv()
			return err
		}
	default:
		return nil, nil, errors.New("unknown kind " + kind)
	}
	for range 50 {
		if err := rt(); err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	return rt, closeFn, nil
}

// requestAllocs measures the client side of request/reply against the shared
// echo server in another process, so the server's allocations do not count.
func requestAllocs(n int, kind string) (map[string]float64, error) {
	ep, err := sharedEcho()
	if err != nil {
		return nil, err
	}
	rt, closeFn, err := requestClient(ep, kind)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	m0 := mallocs()
	for range n {
		if err := rt(); err != nil {
			return nil, err
		}
	}
	return map[string]float64{"allocs/req": float64(mallocs()-m0) / float64(n)}, nil
}

func allocRows() []Row {
	m := []Metric{{"send allocs/msg", false, 0.5}, {"recv allocs/msg", false, 0.5}}
	count := func(cfg *Config) int { return cfg.n(20000, 2000) }
	var rows []Row
	for _, multi := range []bool{false, true} {
		name, note := "allocs/single-16B", "Go heap allocations per message of SendBytes and RecvBytes (16 B, inproc), each path measured alone"
		if multi {
			name, note = "allocs/multipart-4", "Go heap allocations per message of SendMessage(4 parts) and RecvMessageBytes, each path measured alone"
		}
		rows = append(rows, Row{Name: name, Note: note, Metrics: m, Baseline: "pebbe", Variants: []Variant{
			{"pebbe", func(cfg *Config) (map[string]float64, error) { return pebbeAllocs(count(cfg), multi) }},
			{"zmqguard zmq/", func(cfg *Config) (map[string]float64, error) { return guardAllocs(count(cfg), multi, false) }},
			{"zmqguard timeout/", func(cfg *Config) (map[string]float64, error) { return guardAllocs(count(cfg), multi, true) }},
			{"go-zeromq (tcp; counts its I/O goroutines)", func(cfg *Config) (map[string]float64, error) { return gozmqAllocs(count(cfg), multi) }},
		}})
	}
	rc := func(cfg *Config) int { return cfg.n(3000, 300) }
	var vs []Variant
	for _, k := range []struct{ name, kind string }{
		{"pebbe", "pebbe"}, {"zmqguard zmq/", "zmq"}, {"zmqguard timeout.Request", "timeout"},
		{"reliable.Client plain", "reliable-plain"}, {"reliable.Client correlated", "reliable"}, {"go-zeromq", "go-zeromq"},
	} {
		vs = append(vs, Variant{k.name, func(cfg *Config) (map[string]float64, error) { return requestAllocs(rc(cfg), k.kind) }})
	}
	rows = append(rows, Row{Name: "allocs/request-tcp", Metrics: []Metric{{"allocs/req", false, 0.5}}, Baseline: "pebbe", Variants: vs,
		Note: "Go heap allocations per request/reply on the client side, against an echo server in another process (tcp)"})
	return rows
}
