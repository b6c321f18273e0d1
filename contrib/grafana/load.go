package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	zgprom "github.com/zmqguard/zmqguard/contrib/prometheus"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// load is a server, its clients and the HTTP server of its metrics.
type load struct {
	url     string
	stopped atomic.Bool
	// incident is set during the middle third of the run: more requests
	// are slow (they time out, retry and come back stale) and fail.
	incident atomic.Bool

	zctx    *zmq.Context
	srv     *reliable.Server
	http    *http.Server
	served  chan struct{}
	clients sync.WaitGroup
}

const clients = 3

func startLoad() (*load, error) {
	m, err := zgprom.New()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	l := &load{served: make(chan struct{})}
	if l.zctx, err = zmq.NewContext(zmq.WithLinger(0)); err != nil {
		return nil, err
	}
	l.srv, err = reliable.Listen(l.zctx, "tcp://127.0.0.1:*", l.handle, reliable.WithServerObserver(m),
		reliable.WithHandlerTimeout(2*time.Second))
	if err != nil {
		l.zctx.Term()
		return nil, err
	}
	go func() { defer close(l.served); _ = l.srv.Serve(context.Background()) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.stop()
		return nil, err
	}
	l.url = "http://" + ln.Addr().String() + "/metrics"
	l.http = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = l.http.Serve(ln) }()
	for i := range clients {
		c, err := reliable.NewClient(l.zctx, []string{l.srv.Addr()}, reliable.WithObserver(m),
			reliable.WithAttemptTimeout(100*time.Millisecond), reliable.WithMaxAttempts(2))
		if err != nil {
			l.stop()
			return nil, err
		}
		l.clients.Add(1)
		go l.drive(c, rand.New(rand.NewPCG(uint64(i), 7)))
	}
	return l, nil
}

// handle answers by the request's first frame.
func (l *load) handle(ctx context.Context, req [][]byte) ([][]byte, error) {
	switch string(req[0]) {
	case "panic":
		panic("dashboard: a handler bug")
	case "error":
		return nil, errors.New("dashboard: a handler error")
	case "slow":
		t := time.NewTimer(150 * time.Millisecond) // past the client's attempt
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	default:
		time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
	}
	return req, nil
}

// drive sends requests from c until the load stops, then closes c.
func (l *load) drive(c *reliable.Client, r *rand.Rand) {
	defer l.clients.Done()
	defer c.Close()
	body := make([]byte, 4096)
	for !l.stopped.Load() {
		kind := "echo"
		slow, failing := 0.002, 0.01
		if l.incident.Load() {
			slow, failing = 0.03, 0.05
		}
		switch x := r.Float64(); {
		case x < slow:
			kind = "slow"
		case x < slow+failing/5:
			kind = "panic"
		case x < slow+failing:
			kind = "error"
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = c.Request(ctx, []byte(kind), body[:16+r.IntN(len(body)-16)])
		cancel()
		time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
	}
}

// stop ends the load and waits for all it started.
func (l *load) stop() {
	l.stopped.Store(true)
	l.clients.Wait()
	if l.http != nil {
		_ = l.http.Close()
	}
	if l.srv != nil {
		_ = l.srv.Close()
		<-l.served
	}
	l.zctx.Term()
}
