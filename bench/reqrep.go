package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	gozmq "github.com/go-zeromq/zmq4"
	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// latencies turns round-trip samples and the wall time into the row's
// metrics.
func latencies(d []time.Duration, wall time.Duration) map[string]float64 {
	slices.Sort(d)
	return map[string]float64{
		"p50-us": percentile(d, 50),
		"p99-us": percentile(d, 99),
		"req/s":  float64(len(d)) / wall.Seconds(),
	}
}

// roundTrips runs warm-up then n timed calls of rt, one at a time.
func roundTrips(n int, rt func() error) (map[string]float64, error) {
	for range 100 {
		if err := rt(); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	d := make([]time.Duration, n)
	cpu := markCPU()
	start := time.Now()
	for i := range d {
		t := time.Now()
		if err := rt(); err != nil {
			return nil, err
		}
		d[i] = time.Since(t)
	}
	m := latencies(d, time.Since(start))
	cpu.perCall(m, n)
	return m, nil
}

// guardEcho serves REP echo on s until s is closed; wait waits for it.
func guardEcho(s *zmq.Socket) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			msg, err := s.RecvMessageBytes(0)
			if err != nil {
				return
			}
			if _, err := s.SendMessage(msg); err != nil {
				return
			}
		}
	})
	return wg.Wait
}

var payload = []byte("0123456789abcdef") // 16 B request body

func pebbeReqRep(tr string, n int) (map[string]float64, error) {
	ctx, err := zmq4.NewContext()
	if err != nil {
		return nil, err
	}
	ep, rm := bindEndpoint(tr)
	defer rm()
	rep, _ := ctx.NewSocket(zmq4.REP)
	req, _ := ctx.NewSocket(zmq4.REQ)
	rep.SetLinger(0)
	req.SetLinger(0)
	var wg sync.WaitGroup
	defer func() {
		req.Close()
		ctx.Term() // fails rep's blocked RecvBytes with ETERM
		wg.Wait()
	}()
	if err := rep.Bind(ep); err != nil {
		rep.Close()
		return nil, err
	}
	ep, _ = rep.GetLastEndpoint()
	wg.Go(func() {
		defer rep.Close()
		for {
			msg, err := rep.RecvBytes(0)
			if err != nil {
				return
			}
			if _, err := rep.SendBytes(msg, 0); err != nil {
				return
			}
		}
	})
	if err := req.Connect(ep); err != nil {
		return nil, err
	}
	return roundTrips(n, func() error {
		if _, err := req.SendBytes(payload, 0); err != nil {
			return err
		}
		_, err := req.RecvBytes(0)
		return err
	})
}

// guardReqRep runs a zmqguard REP echo server and a REQ client that does one
// round trip with rt.
func guardReqRep(tr string, n int, rt func(req *zmq.Socket) error) (map[string]float64, error) {
	rep, req, cl, err := guardPair(tr, zmq.REP, zmq.REQ)
	if err != nil {
		return nil, err
	}
	wait := guardEcho(rep)
	defer func() { cl(); wait() }()
	return roundTrips(n, func() error { return rt(req) })
}

// clientReqRep runs a zmqguard REP echo server and a reliable.Client with
// inFlight goroutines each doing n/inFlight requests.
func clientReqRep(tr string, n, inFlight int, mode reliable.Mode) (map[string]float64, error) {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return nil, err
	}
	ep, rm := bindEndpoint(tr)
	defer rm()
	rep, err := zctx.NewSocket(zmq.REP)
	if err != nil {
		zctx.Term()
		return nil, err
	}
	if err := rep.Bind(ep); err != nil {
		zctx.Term()
		return nil, err
	}
	ep, _ = rep.GetLastEndpoint()
	wait := guardEcho(rep)
	defer func() { zctx.Term(); wait() }()
	c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithMode(mode))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx := context.Background()
	return parallelRoundTrips(n, inFlight, func() error { _, err := c.Request(ctx, payload); return err })
}

// reqRepOf measures n round trips, one at a time, over tr between a client
// of the given kind and an echo server of its own kind in this process:
// "pebbe", "zmq" (a zmqguard REQ), "timeout" (timeout.Request),
// "reliable-plain" or "reliable" (reliable.Client, plain or correlated).
func reqRepOf(kind, tr string, n int) (map[string]float64, error) {
	switch kind {
	case "pebbe":
		return pebbeReqRep(tr, n)
	case "zmq":
		return guardReqRep(tr, n, func(req *zmq.Socket) error {
			if _, err := req.SendBytes(payload, 0); err != nil {
				return err
			}
			_, err := req.RecvBytes(0)
			return err
		})
	case "timeout":
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		return guardReqRep(tr, n, func(req *zmq.Socket) error {
			_, err := timeout.Request(ctx, req, payload)
			return err
		})
	case "reliable-plain":
		return clientReqRep(tr, n, 1, reliable.Plain)
	case "reliable":
		return clientReqRep(tr, n, 1, reliable.Correlated)
	}
	return nil, fmt.Errorf("unknown request/reply kind %q", kind)
}

// parallelRoundTrips runs warm-up, then inFlight goroutines each doing
// n/inFlight timed calls of rt (which must be safe for concurrent use
// when inFlight > 1).
func parallelRoundTrips(n, inFlight int, rt func() error) (map[string]float64, error) {
	if inFlight == 1 {
		return roundTrips(n, rt)
	}
	for range 100 {
		if err := rt(); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	per := n / inFlight
	d := make([]time.Duration, per*inFlight)
	errs := make([]error, inFlight)
	var wg sync.WaitGroup
	cpu := markCPU()
	start := time.Now()
	for g := range inFlight {
		wg.Go(func() {
			for i := range per {
				t := time.Now()
				if err := rt(); err != nil {
					errs[g] = err
					return
				}
				d[g*per+i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	m := latencies(d, wall)
	cpu.perCall(m, len(d))
	return m, nil
}

// sharedServerReqRep measures a client of the given kind against the
// shared echo child of the given mode.
func sharedServerReqRep(n, inFlight int, server, kind string) (map[string]float64, error) {
	ep, err := sharedEchoOf(server)
	if err != nil {
		return nil, err
	}
	return requestRoundTripsOf(ep, kind, n, inFlight)
}

// requestRoundTrips measures n round trips, one at a time, of a client of
// the given kind against the server at ep.
func requestRoundTrips(ep, kind string, n int) (map[string]float64, error) {
	return requestRoundTripsOf(ep, kind, n, 1)
}

func requestRoundTripsOf(ep, kind string, n, inFlight int) (map[string]float64, error) {
	rt, closeFn, err := requestClient(ep, kind)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return parallelRoundTrips(n, inFlight, rt)
}

func gozmqReqRep(n int) (map[string]float64, error) {
	rep, req, cl, err := gozmqPair(gozmq.NewRep, gozmq.NewReq)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	defer func() { cl(); wg.Wait() }()
	wg.Go(func() {
		for {
			m, err := rep.Recv()
			if err != nil {
				return
			}
			if err := rep.Send(m); err != nil {
				return
			}
		}
	})
	return roundTrips(n, func() error {
		if err := req.Send(gozmq.NewMsg(payload)); err != nil {
			return err
		}
		_, err := req.Recv()
		return err
	})
}

func reqRepRows() []Row {
	var rows []Row
	for _, tr := range []string{"tcp", "inproc"} {
		count := func(cfg *Config) int { return cfg.n(5000, 500) }
		one := func(name, kind string) Variant {
			return Variant{name, func(cfg *Config) (map[string]float64, error) { return reqRepOf(kind, tr, count(cfg)) }}
		}
		vs := []Variant{
			one("pebbe", "pebbe"),
			one("zmqguard zmq/", "zmq"),
			one("zmqguard timeout.Request", "timeout"),
			one("reliable.Client plain, 1 in flight", "reliable-plain"),
			one("reliable.Client correlated, 1 in flight", "reliable"),
			{"reliable.Client correlated, 16 in flight", func(cfg *Config) (map[string]float64, error) {
				return clientReqRep(tr, 4*count(cfg), 16, reliable.Correlated)
			}},
		}
		if tr == "tcp" {
			vs = append(vs, Variant{"go-zeromq", func(cfg *Config) (map[string]float64, error) { return gozmqReqRep(count(cfg)) }})
		}
		rows = append(rows, Row{
			Name:     "req-rep/" + tr,
			Note:     "REQ<->REP round trip of a 16 B body; the echo server is of the client's kind (pebbe for pebbe, go-zeromq for go-zeromq, zmqguard REP otherwise); req/s is the request rate of all in-flight goroutines",
			Metrics:  []Metric{{"p50-us", false, 0}, {"p99-us", false, 0}, {"req/s", true, 0}},
			Baseline: "pebbe",
			Variants: vs,
		})
	}
	count := func(cfg *Config) int { return cfg.n(5000, 500) }
	awake := func(name, kind string) Variant {
		return Variant{name, func(cfg *Config) (map[string]float64, error) { return reqRepAwakeIn(kind, count(cfg)) }}
	}
	rows = append(rows, Row{
		Name: "req-rep/tcp-sysmon-awake",
		Note: "req-rep/tcp again, each variant in a fresh process run with GODEBUG=" + sysmonAwake +
			", which keeps the Go runtime's sysmon thread out of the deep sleep that a parked goroutine's next cgo call wakes it from; a program can set this, a library cannot (docs/BENCHMARKS.md)",
		Metrics:  []Metric{{"p50-us", false, 0}, {"p99-us", false, 0}, {"req/s", true, 0}},
		Baseline: "pebbe",
		Variants: []Variant{
			awake("pebbe", "pebbe"),
			awake("zmqguard zmq/", "zmq"),
			awake("zmqguard timeout.Request", "timeout"),
			awake("reliable.Client plain, 1 in flight", "reliable-plain"),
			awake("reliable.Client correlated, 1 in flight", "reliable"),
		},
	})
	hotIn := func(name, kind, hot string) Variant {
		return Variant{name, func(cfg *Config) (map[string]float64, error) {
			ep, err := sharedEchoOf("echo-pebbe")
			if err != nil {
				return nil, err
			}
			return reqRepIn(kind, ep, count(cfg), "ZMQGUARD_HOTWAIT="+hot)
		}}
	}
	rows = append(rows, Row{
		Name:     "req-rep/tcp-pebbe-server-process-hot-wait",
		Note:     "req-rep/tcp-pebbe-server-process again, each client alone in a fresh process, with zmqguard's hot wait on (the default: a receive whose recent waits were short blocks in libzmq, interruptibly, for up to about 1 ms before it parks; docs/BENCHMARKS.md) and off (ZMQGUARD_HOTWAIT=0: every wait parks in the netpoller)",
		Metrics:  []Metric{{"p50-us", false, 0}, {"p99-us", false, 0}, {"req/s", true, 0}, {"client-cpu-us", false, 0}, {"io-cpu-us", false, 0}},
		Baseline: "pebbe",
		Variants: []Variant{
			hotIn("pebbe", "pebbe", "0"),
			hotIn("zmqguard zmq/, hot wait off", "zmq", "0"),
			hotIn("zmqguard zmq/, hot wait on", "zmq", "1"),
			hotIn("reliable.Client plain, hot wait off", "reliable-plain", "0"),
			hotIn("reliable.Client plain, hot wait on", "reliable-plain", "1"),
			hotIn("reliable.Client correlated, hot wait off", "reliable", "0"),
			hotIn("reliable.Client correlated, hot wait on", "reliable", "1"),
		},
	})
	for _, srv := range []struct{ mode, name, what string }{
		{"echo-pebbe", "pebbe", "a raw pebbe/zmq4 REP echo server"},
		{"echo", "zmqguard", "a zmqguard REP echo server"},
	} {
		shared := func(name, kind string, inFlight int) Variant {
			return Variant{name, func(cfg *Config) (map[string]float64, error) {
				n := count(cfg)
				if inFlight > 1 {
					n *= 4
				}
				return sharedServerReqRep(n, inFlight, srv.mode, kind)
			}}
		}
		rows = append(rows, Row{
			Name: "req-rep/tcp-" + srv.name + "-server-process",
			Note: "REQ<->REP round trip of a 16 B body, every client against the same server in another process, " + srv.what +
				": only the client differs, and no server shares the client's scheduler; req/s is the request rate of all in-flight goroutines; client-cpu-us is the CPU time per request of the client process's threads other than libzmq's (its Go code, cgo, runtime and system calls), io-cpu-us that of libzmq's I/O threads",
			Metrics:  []Metric{{"p50-us", false, 0}, {"p99-us", false, 0}, {"req/s", true, 0}, {"client-cpu-us", false, 0}, {"io-cpu-us", false, 0}},
			Baseline: "pebbe",
			Variants: []Variant{
				shared("pebbe", "pebbe", 1),
				shared("zmqguard zmq/", "zmq", 1),
				shared("zmqguard timeout.Request", "timeout", 1),
				shared("reliable.Client plain, 1 in flight", "reliable-plain", 1),
				shared("reliable.Client correlated, 1 in flight", "reliable", 1),
				shared("reliable.Client correlated, 16 in flight", "reliable", 16),
				shared("go-zeromq", "go-zeromq", 1),
			},
		})
	}
	return rows
}
