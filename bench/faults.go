package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// ---- cancel wake-up ----

// cancelDelays blocks recv (which must return once ctx is cancelled) n
// times, cancels after it has blocked, and measures cancel -> return.
func cancelDelays(n int, recv func(ctx context.Context) error) (map[string]float64, error) {
	d := make([]time.Duration, 0, n)
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan time.Time, 1)
		errc := make(chan error, 1)
		go func() {
			err := recv(ctx)
			done <- time.Now()
			errc <- err
		}()
		time.Sleep(2 * time.Millisecond) // let it block
		t0 := time.Now()
		cancel()
		t1 := <-done
		if err := <-errc; !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("receive returned %v, want context.Canceled", err)
		}
		d = append(d, t1.Sub(t0))
	}
	slices.Sort(d)
	return map[string]float64{"p50-us": percentile(d, 50), "p99-us": percentile(d, 99)}, nil
}

func cancelRows() []Row {
	count := func(cfg *Config) int { return cfg.n(100, 20) }
	guard := func(cfg *Config, recv func(ctx context.Context, s *zmq.Socket) error) (map[string]float64, error) {
		pull, _, cl, err := guardPair("inproc", zmq.PULL, zmq.PUSH)
		if err != nil {
			return nil, err
		}
		defer cl()
		return cancelDelays(count(cfg), func(ctx context.Context) error { return recv(ctx, pull) })
	}
	return []Row{{
		Name:     "cancel-wakeup",
		Note:     "cancel a ctx while a receive on an idle PULL socket is blocked, until the receive returns; pebbe has no ctx: its variant is the usual loop of RecvBytes with RCVTIMEO 10ms checking ctx between tries",
		Metrics:  []Metric{{"p50-us", false, 0}, {"p99-us", false, 0}},
		Baseline: "pebbe RCVTIMEO 10ms loop",
		Variants: []Variant{
			{"pebbe RCVTIMEO 10ms loop", func(cfg *Config) (map[string]float64, error) {
				pull, _, cl, err := pebbePair("inproc", zmq4.PULL, zmq4.PUSH)
				if err != nil {
					return nil, err
				}
				defer cl()
				pull.SetRcvtimeo(10 * time.Millisecond)
				return cancelDelays(count(cfg), func(ctx context.Context) error {
					for ctx.Err() == nil {
						if _, err := pull.RecvBytes(0); err == nil || zmq4.AsErrno(err) != zmq4.Errno(11) {
							return err
						}
					}
					return ctx.Err()
				})
			}},
			{"zmqguard timeout.RecvBytes", func(cfg *Config) (map[string]float64, error) {
				return guard(cfg, func(ctx context.Context, s *zmq.Socket) error { _, err := timeout.RecvBytes(ctx, s); return err })
			}},
		},
	}}
}

// ---- recovery after a server restart ----

// recoveryCycles runs a request loop against an echo child; each cycle
// SIGKILLs the child while requests flow, restarts it on the same endpoint
// after 50 ms, and measures from the restart (the new process is spawned)
// to the first good reply to a request sent after the kill.
func recoveryCycles(cycles int, newLoop func(ep string) (request func(ctx context.Context) error, closeFn func(), err error)) (map[string]float64, error) {
	srv, err := startEcho("tcp://127.0.0.1:*")
	if err != nil {
		return nil, err
	}
	ep := srv.Endpoint
	defer func() { srv.Kill() }()
	request, closeFn, err := newLoop(ep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		okAfter = make(chan time.Time, 1) // first success that started after killedAt
		killed  time.Time
		wg      sync.WaitGroup
		lastErr atomic.Value
	)
	wg.Go(func() {
		for ctx.Err() == nil {
			t := time.Now()
			err := request(ctx)
			if err != nil {
				lastErr.Store(err.Error())
				continue
			}
			mu.Lock()
			if !killed.IsZero() && t.After(killed) {
				select {
				case okAfter <- time.Now():
				default:
				}
				killed = time.Time{}
			}
			mu.Unlock()
		}
	})
	defer func() { cancel(); wg.Wait(); closeFn() }()
	time.Sleep(50 * time.Millisecond) // requests flowing
	var d []time.Duration
	for range cycles {
		mu.Lock()
		killed = time.Now()
		mu.Unlock()
		srv.Kill()
		time.Sleep(50 * time.Millisecond)
		restart := time.Now()
		if srv, err = startEcho(ep); err != nil {
			return nil, fmt.Errorf("restart on %s: %w", ep, err)
		}
		select {
		case t := <-okAfter:
			d = append(d, t.Sub(restart))
		case <-time.After(15 * time.Second):
			return nil, fmt.Errorf("no good reply 15s after restart (last error: %v)", lastErr.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(d)
	return map[string]float64{"p50-ms": percentile(d, 50) / 1000, "max-ms": percentile(d, 100) / 1000}, nil
}

func clientLoop(mode reliable.Mode) func(ep string) (func(context.Context) error, func(), error) {
	return func(ep string) (func(context.Context) error, func(), error) {
		zctx, err := zmq.NewContext(zmq.WithLinger(0))
		if err != nil {
			return nil, nil, err
		}
		c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithMode(mode), reliable.WithReconnectInterval(100*time.Millisecond))
		if err != nil {
			zctx.Term()
			return nil, nil, err
		}
		req := func(ctx context.Context) error { _, err := c.Request(ctx, payload); return err }
		return req, func() { c.Close(); zctx.Term() }, nil
	}
}

// lazyPirateLoop is the zguide's Lazy Pirate client on raw pebbe: poll 2.5 s
// for the reply, then close the REQ (linger 0), open a new one and resend.
func lazyPirateLoop(ep string) (func(context.Context) error, func(), error) {
	zctx, err := zmq4.NewContext()
	if err != nil {
		return nil, nil, err
	}
	var req *zmq4.Socket
	open := func() error {
		var err error
		if req, err = zctx.NewSocket(zmq4.REQ); err != nil {
			return err
		}
		req.SetLinger(0)
		return req.Connect(ep)
	}
	if err := open(); err != nil {
		zctx.Term()
		return nil, nil, err
	}
	request := func(ctx context.Context) error {
		for retries := 3; retries > 0; retries-- {
			if _, err := req.SendBytes(payload, 0); err != nil {
				return err
			}
			p := zmq4.NewPoller()
			p.Add(req, zmq4.POLLIN)
			polled, err := p.Poll(2500 * time.Millisecond)
			if err == nil && len(polled) > 0 {
				_, err := req.RecvBytes(0)
				return err
			}
			req.Close()
			if err := open(); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return errors.New("server seems to be offline")
	}
	return request, func() { req.Close(); zctx.Term() }, nil
}

func recoveryRows() []Row {
	return []Row{{
		Name:     "recovery-restart",
		Note:     "server process SIGKILLed while requests flow, restarted on the same tcp endpoint 50 ms later; time from the restart (spawn of the new process, whose start-up is included) to the first good reply (reliable.Client with 100 ms reconnect interval; the zguide Lazy Pirate on pebbe with its 2.5 s timeout, 3 retries)",
		Metrics:  []Metric{{"p50-ms", false, 0}, {"max-ms", false, 0}},
		Baseline: "pebbe zguide Lazy Pirate",
		Variants: []Variant{
			{"pebbe zguide Lazy Pirate", func(cfg *Config) (map[string]float64, error) {
				return recoveryCycles(cfg.n(1, 1), lazyPirateLoop)
			}},
			{"reliable.Client correlated", func(cfg *Config) (map[string]float64, error) {
				return recoveryCycles(cfg.n(4, 2), clientLoop(reliable.Correlated))
			}},
			{"reliable.Client plain", func(cfg *Config) (map[string]float64, error) {
				return recoveryCycles(cfg.n(4, 2), clientLoop(reliable.Plain))
			}},
		},
	}}
}

// ---- dead-peer detection ----

// detectZmqguard connects a zmqguard DEALER to an echo child, feeds its
// monitor's DISCONNECTED events into a heartbeat.Tracker (MarkDead), kills
// or freezes the child, and measures until the tracker reports Dead.
func detectZmqguard(freeze, zmtp bool) (time.Duration, error) {
	srv, err := startEcho("tcp://127.0.0.1:*")
	if err != nil {
		return 0, err
	}
	defer srv.Kill()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return 0, err
	}
	defer zctx.Term()
	s, err := zctx.NewSocket(zmq.DEALER)
	if err != nil {
		return 0, err
	}
	if zmtp {
		s.SetHeartbeatIvl(100 * time.Millisecond)
		s.SetHeartbeatTimeout(300 * time.Millisecond)
	}
	mon, err := s.StartMonitor(zmq.EVENT_DISCONNECTED)
	if err != nil {
		return 0, err
	}
	defer mon.Close()
	tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: time.Hour}))
	if err != nil {
		return 0, err
	}
	defer tr.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range mon.Events() {
			if ev.Event == zmq.EVENT_DISCONNECTED {
				tr.MarkDead(srv.Endpoint)
			}
		}
	})
	defer wg.Wait()
	defer mon.Close()
	if err := s.Connect(srv.Endpoint); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := timeout.SendMessage(ctx, s, "", "ping"); err != nil {
		return 0, err
	}
	if _, err := timeout.RecvMessageBytes(ctx, s); err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	tr.Observe(srv.Endpoint)
	t0 := time.Now()
	if freeze {
		if err := srv.Stop(); err != nil {
			return 0, err
		}
	} else {
		srv.Kill()
	}
	st, err := tr.WaitForStateChange(ctx, srv.Endpoint, heartbeat.Alive)
	if err != nil {
		return 0, fmt.Errorf("no Dead within 5s: %w", err)
	}
	if st != heartbeat.Dead {
		return 0, fmt.Errorf("state %v, want Dead", st)
	}
	return time.Since(t0), nil
}

// detectPebbe is the same with raw pebbe: Monitor to an inproc PAIR and a
// blocking RecvEvent.
func detectPebbe(freeze, zmtp bool) (time.Duration, error) {
	srv, err := startEcho("tcp://127.0.0.1:*")
	if err != nil {
		return 0, err
	}
	defer srv.Kill()
	zctx, err := zmq4.NewContext()
	if err != nil {
		return 0, err
	}
	s, _ := zctx.NewSocket(zmq4.DEALER)
	s.SetLinger(0)
	if zmtp {
		s.SetHeartbeatIvl(100 * time.Millisecond)
		s.SetHeartbeatTimeout(300 * time.Millisecond)
	}
	addr := fmt.Sprintf("inproc://zgbench-mon-%d", epSeq.Add(1))
	if err := s.Monitor(addr, zmq4.EVENT_DISCONNECTED); err != nil {
		return 0, err
	}
	pair, _ := zctx.NewSocket(zmq4.PAIR)
	pair.SetLinger(0)
	defer func() { s.Close(); pair.Close(); zctx.Term() }()
	if err := pair.Connect(addr); err != nil {
		return 0, err
	}
	if err := s.Connect(srv.Endpoint); err != nil {
		return 0, err
	}
	s.SetRcvtimeo(5 * time.Second)
	if _, err := s.SendMessage("", "ping"); err != nil {
		return 0, err
	}
	if _, err := s.RecvMessageBytes(0); err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	pair.SetRcvtimeo(5 * time.Second)
	t0 := time.Now()
	if freeze {
		if err := srv.Stop(); err != nil {
			return 0, err
		}
	} else {
		srv.Kill()
	}
	for {
		ev, _, _, err := pair.RecvEvent(0)
		if err != nil {
			return 0, fmt.Errorf("no DISCONNECTED within 5s: %w", err)
		}
		if ev == zmq4.EVENT_DISCONNECTED {
			return time.Since(t0), nil
		}
	}
}

// detectClient measures how soon an in-flight reliable.Client request
// returns after its peer was SIGKILLed (fail fast, one attempt), instead of
// waiting out its 2.5 s attempt timeout.
func detectClient() (time.Duration, error) {
	srv, err := startEcho("tcp://127.0.0.1:*")
	if err != nil {
		return 0, err
	}
	defer srv.Kill()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return 0, err
	}
	defer zctx.Term()
	c, err := reliable.NewClient(zctx, []string{srv.Endpoint}, reliable.WithMaxAttempts(1))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Request(ctx, payload); err != nil {
		return 0, err
	}
	// The next request is in flight, unanswered, when the kill comes.
	if err := srv.Stop(); err != nil {
		return 0, err
	}
	type ret struct {
		at  time.Time
		err error
	}
	done := make(chan ret, 1)
	go func() {
		_, err := c.Request(ctx, payload)
		done <- ret{time.Now(), err}
	}()
	time.Sleep(20 * time.Millisecond)
	t0 := time.Now()
	srv.Kill()
	r := <-done
	if r.err == nil {
		return 0, errors.New("request to a frozen then killed peer got a reply")
	}
	return r.at.Sub(t0), nil
}

func detectRows() []Row {
	samples := func(cfg *Config, f func() (time.Duration, error)) (map[string]float64, error) {
		var d []time.Duration
		for range cfg.n(3, 1) {
			x, err := f()
			if err != nil {
				return nil, err
			}
			d = append(d, x)
		}
		slices.Sort(d)
		return map[string]float64{"p50-ms": percentile(d, 50) / 1000, "max-ms": percentile(d, 100) / 1000}, nil
	}
	m := []Metric{{"p50-ms", false, 0}, {"max-ms", false, 0}}
	return []Row{{
		Name:     "dead-peer/sigkill",
		Note:     "peer process SIGKILLed (the kernel closes its tcp connection): until a monitor's DISCONNECTED (pebbe), until a heartbeat.Tracker fed by zmqguard's monitor says Dead, until a reliable.Client's in-flight Request (one attempt, 2.5 s timeout) returns",
		Metrics:  m,
		Baseline: "pebbe monitor",
		Variants: []Variant{
			{"pebbe monitor", func(cfg *Config) (map[string]float64, error) {
				return samples(cfg, func() (time.Duration, error) { return detectPebbe(false, false) })
			}},
			{"zmqguard monitor -> heartbeat.Tracker", func(cfg *Config) (map[string]float64, error) {
				return samples(cfg, func() (time.Duration, error) { return detectZmqguard(false, false) })
			}},
			{"reliable.Client fail-fast", func(cfg *Config) (map[string]float64, error) {
				return samples(cfg, detectClient)
			}},
		},
	}, {
		Name:     "dead-peer/sigstop-zmtp-hb",
		Note:     "peer process frozen with SIGSTOP (connection stays open): native ZMTP heartbeat, interval 100 ms, timeout 300 ms, until DISCONNECTED (pebbe) or Tracker Dead (zmqguard)",
		Metrics:  m,
		Baseline: "pebbe monitor",
		Variants: []Variant{
			{"pebbe monitor", func(cfg *Config) (map[string]float64, error) {
				return samples(cfg, func() (time.Duration, error) { return detectPebbe(true, true) })
			}},
			{"zmqguard monitor -> heartbeat.Tracker", func(cfg *Config) (map[string]float64, error) {
				return samples(cfg, func() (time.Duration, error) { return detectZmqguard(true, true) })
			}},
		},
	}}
}

// ---- OS threads with many blocked receives ----

func threadVariant(variant string, n int, start func(recv func(i int) error) error) error {
	switch variant {
	case "pebbe":
		ctx, err := zmq4.NewContext()
		if err != nil {
			return err
		}
		ctx.SetMaxSockets(n + 100)
		socks := make([]*zmq4.Socket, n)
		for i := range socks {
			if socks[i], err = ctx.NewSocket(zmq4.PULL); err != nil {
				return fmt.Errorf("socket %d: %w", i, err)
			}
			if err := socks[i].Bind(fmt.Sprintf("inproc://t-%d", i)); err != nil {
				return err
			}
		}
		return start(func(i int) error { _, err := socks[i].RecvBytes(0); return err })
	case "timeout", "rcvtimeo":
		zctx, err := zmq.NewContext(zmq.WithLinger(0))
		if err != nil {
			return err
		}
		zctx.SetMaxSockets(n + 100)
		socks := make([]*zmq.Socket, n)
		for i := range socks {
			if socks[i], err = zctx.NewSocket(zmq.PULL); err != nil {
				return fmt.Errorf("socket %d: %w", i, err)
			}
			if err := socks[i].Bind(fmt.Sprintf("inproc://t-%d", i)); err != nil {
				return err
			}
			if variant == "rcvtimeo" {
				socks[i].SetRcvtimeo(time.Hour)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		_ = cancel // the child exits with its receives blocked
		if variant == "rcvtimeo" {
			return start(func(i int) error { _, err := socks[i].RecvBytes(0); return err })
		}
		return start(func(i int) error { _, err := timeout.RecvBytes(ctx, socks[i]); return err })
	}
	return errors.New("unknown threads variant " + variant)
}

func threadRows() []Row {
	run := func(variant string) func(cfg *Config) (map[string]float64, error) {
		return func(cfg *Config) (map[string]float64, error) {
			th, err := threadsIn(variant, 2000)
			if err != nil {
				return nil, err
			}
			return map[string]float64{"threads": th}, nil
		}
	}
	return []Row{{
		Name:     "threads/2000-blocked-recv",
		Note:     "OS threads (/proc/self/status) of a fresh process with 2000 PULL sockets, each with one goroutine blocked in a receive",
		Metrics:  []Metric{{"threads", false, 0}},
		Baseline: "pebbe blocking RecvBytes",
		Variants: []Variant{
			{"pebbe blocking RecvBytes", run("pebbe")},
			{"zmqguard timeout.RecvBytes (ctx deadline)", run("timeout")},
			{"zmqguard zmq/ RecvBytes + SetRcvtimeo", run("rcvtimeo")},
		},
	}}
}

// Rows returns every row of the suite, in table order.
func Rows() []Row {
	var rows []Row
	rows = append(rows, throughputRows()...)
	rows = append(rows, msgPathRows()...)
	rows = append(rows, thresholdRows()...)
	rows = append(rows, reqRepRows()...)
	rows = append(rows, mdpRows()...)
	rows = append(rows, allocRows()...)
	rows = append(rows, cancelRows()...)
	rows = append(rows, recoveryRows()...)
	rows = append(rows, detectRows()...)
	rows = append(rows, threadRows()...)
	return rows
}
