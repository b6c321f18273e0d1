package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/zmq"
)

// The mdp rows: Majordomo round trips through a broker in a child
// process, with the same zmqguard workers and client in this process for
// every variant; only the broker differs. The baseline is the zguide's
// broker on raw pebbe/zmq4 (below): pebbe's own port, examples/mdbroker.go,
// is not in pebbe/zmq4's module zip, so it cannot be built from the module
// cache.

// mdpHeartbeat is the heartbeat of the brokers and workers of the rows
// (the zguide's).
const mdpHeartbeat = 2500 * time.Millisecond

func mdpRows() []Row {
	var rows []Row
	for _, workers := range []int{1, 4} {
		count := func(cfg *Config) int { return cfg.n(4000, 400) }
		one := func(name, mode string) Variant {
			return Variant{name, func(cfg *Config) (map[string]float64, error) {
				return mdpRoundTrips(mode, workers, count(cfg))
			}}
		}
		rows = append(rows, Row{
			Name: fmt.Sprintf("mdp/%d-worker", workers),
			Note: fmt.Sprintf("Majordomo round trip of a 16 B body through a broker in another process to %d mdp.Worker(s), "+
				"from %d goroutine(s) sharing an mdp.Client, one request each at a time; req/s is their total rate. "+
				"The baseline broker is the zguide's mdbroker on raw pebbe/zmq4 (poll, then one receive, per message)", workers, workers),
			Metrics:  []Metric{{"p50-us", false, 0}, {"p99-us", false, 0}, {"req/s", true, 0}},
			Baseline: "zguide mdbroker on pebbe",
			Variants: []Variant{
				one("zguide mdbroker on pebbe", "mdbroker-pebbe"),
				one("zmqguard mdp.Broker", "mdbroker"),
			},
		})
	}
	return rows
}

// mdpRoundTrips starts workers echo workers for a broker child of mode,
// then runs n round trips from each of as many goroutines.
func mdpRoundTrips(mode string, workers, n int) (map[string]float64, error) {
	broker, err := sharedEchoOf(mode) // a child that prints READY like the echo children
	if err != nil {
		return nil, err
	}
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return nil, err
	}
	defer zctx.Term()
	served := make([]atomic.Int64, workers)
	var wg sync.WaitGroup
	var ws []*mdp.Worker
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel() // the workers say DISCONNECT: the shared broker forgets them
		wg.Wait()
		for _, w := range ws {
			w.Close() // and their trackers stop
		}
	}()
	for i := range workers {
		h := func(_ context.Context, req [][]byte) ([][]byte, error) {
			served[i].Add(1)
			return req, nil
		}
		w, err := mdp.NewWorker(zctx, []string{broker}, "echo", h, mdp.WithWorkerHeartbeat(mdpHeartbeat, 3))
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
		wg.Go(func() { _ = w.Run(ctx) })
	}
	c, err := mdp.NewClient(zctx, []string{broker}, mdp.WithAttemptTimeout(10*time.Second), mdp.WithMaxAttempts(1),
		mdp.WithMaxInFlight(workers))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rt := func() error {
		reply, err := c.Request(ctx, "echo", payload)
		if err == nil && (len(reply) != 1 || string(reply[0]) != string(payload)) {
			err = fmt.Errorf("wrong reply %q", reply)
		}
		return err
	}
	// Warm up until every worker has served: all are registered.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := rt(); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		all := true
		for i := range served {
			all = all && served[i].Load() > 0
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("warm-up: not every worker registered within 10s")
		}
	}
	d := make([]time.Duration, workers*n)
	errs := make([]error, workers)
	var run sync.WaitGroup
	start := time.Now()
	for g := range workers {
		run.Go(func() {
			for i := range n {
				t := time.Now()
				if err := rt(); err != nil {
					errs[g] = err
					return
				}
				d[g*n+i] = time.Since(t)
			}
		})
	}
	run.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return latencies(d, wall), nil
}

// runMDBrokerChild is a zmqguard mdp.Broker; it prints READY <endpoint>.
func runMDBrokerChild(bind string) error {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	b, err := mdp.NewBroker(zctx, bind, mdp.WithBrokerHeartbeat(mdpHeartbeat, 3))
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", b.Endpoint())
	return b.Run(context.Background())
}

// pebbeBroker is the zguide's Majordomo broker (mdbroker, in the form of
// its C and Python versions and of pebbe's Go port) on raw pebbe/zmq4:
// one ROUTER, a poll with the heartbeat as its timeout before each
// receive, a request queue and a list of waiting workers per service,
// heartbeats to waiting workers and the expiry of silent ones. Like the
// zguide's, it queues requests for unknown services forever and never
// retries a request whose worker died. It is the baseline of the mdp rows.
type pebbeBroker struct {
	sock     *zmq4.Socket
	services map[string]*pebbeService
	workers  map[string]*pebbeWorker
	waiting  []*pebbeWorker // all waiting workers, oldest first
}

type pebbeService struct {
	name     string
	requests [][][]byte // [client, "", body...]
	waiting  []*pebbeWorker
	workers  int
}

type pebbeWorker struct {
	id      string
	service *pebbeService
	expiry  time.Time
}

// runPebbeMDBrokerChild runs pebbeBroker; it prints READY <endpoint>.
func runPebbeMDBrokerChild(bind string) error {
	ctx, err := zmq4.NewContext()
	if err != nil {
		return err
	}
	s, err := ctx.NewSocket(zmq4.ROUTER)
	if err != nil {
		return err
	}
	if err := s.SetLinger(0); err != nil {
		return err
	}
	if err := s.Bind(bind); err != nil {
		return err
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", ep)
	b := &pebbeBroker{sock: s, services: map[string]*pebbeService{}, workers: map[string]*pebbeWorker{}}
	poller := zmq4.NewPoller()
	poller.Add(s, zmq4.POLLIN)
	heartbeatAt := time.Now().Add(mdpHeartbeat)
	for {
		polled, err := poller.Poll(mdpHeartbeat)
		if err != nil {
			return err
		}
		if len(polled) > 0 {
			msg, err := s.RecvMessageBytes(0)
			if err != nil {
				return err
			}
			if len(msg) >= 3 && len(msg[1]) == 0 {
				switch string(msg[2]) {
				case mdp.ClientHeader:
					b.client(msg[0], msg[3:])
				case mdp.WorkerHeader:
					b.worker(string(msg[0]), msg[3:])
				}
			}
		}
		b.purge()
		if time.Now().After(heartbeatAt) {
			for _, w := range b.waiting {
				b.send(w.id, mdp.CommandHeartbeat)
			}
			heartbeatAt = time.Now().Add(mdpHeartbeat)
		}
	}
}

func (b *pebbeBroker) client(sender []byte, msg [][]byte) {
	if len(msg) < 2 {
		return
	}
	service, body := string(msg[0]), msg[1:]
	if strings.HasPrefix(service, mdp.MMIPrefix) {
		code := mdp.MMINotImplemented
		if service == mdp.MMIService {
			code = mdp.MMINotFound
			if s := b.services[string(body[len(body)-1])]; s != nil && s.workers > 0 {
				code = mdp.MMIFound
			}
		}
		_, _ = b.sock.SendMessage(sender, "", mdp.ClientHeader, service, code)
		return
	}
	s := b.service(service)
	s.requests = append(s.requests, append([][]byte{sender, {}}, body...))
	b.dispatch(s)
}

func (b *pebbeBroker) worker(sender string, msg [][]byte) {
	if len(msg) < 1 || len(msg[0]) != 1 {
		return
	}
	w, ready := b.workers[sender]
	if !ready {
		w = &pebbeWorker{id: sender}
		b.workers[sender] = w
	}
	switch mdp.Command(msg[0][0]) {
	case mdp.CommandReady:
		if ready || len(msg) < 2 || strings.HasPrefix(string(msg[1]), mdp.MMIPrefix) {
			b.delete(w, true)
			return
		}
		w.service = b.service(string(msg[1]))
		w.service.workers++
		b.wait(w)
	case mdp.CommandReply:
		if !ready || len(msg) < 3 {
			b.delete(w, true)
			return
		}
		out := append([][]byte{msg[1], {}, []byte(mdp.ClientHeader), []byte(w.service.name)}, msg[3:]...)
		_, _ = b.sock.SendMessage(out)
		b.wait(w)
	case mdp.CommandHeartbeat:
		if !ready {
			b.delete(w, true)
			return
		}
		w.expiry = time.Now().Add(3 * mdpHeartbeat)
	case mdp.CommandDisconnect:
		b.delete(w, false)
	}
}

func (b *pebbeBroker) service(name string) *pebbeService {
	s := b.services[name]
	if s == nil {
		s = &pebbeService{name: name}
		b.services[name] = s
	}
	return s
}

// wait puts a worker in the waiting lists and dispatches.
func (b *pebbeBroker) wait(w *pebbeWorker) {
	b.waiting = append(b.waiting, w)
	w.service.waiting = append(w.service.waiting, w)
	w.expiry = time.Now().Add(3 * mdpHeartbeat)
	b.dispatch(w.service)
}

func (b *pebbeBroker) dispatch(s *pebbeService) {
	b.purge()
	for len(s.waiting) > 0 && len(s.requests) > 0 {
		req := s.requests[0]
		s.requests = s.requests[1:]
		w := s.waiting[0]
		s.waiting = s.waiting[1:]
		b.waiting = slices.DeleteFunc(b.waiting, func(x *pebbeWorker) bool { return x == w })
		out := append([][]byte{[]byte(w.id), {}, []byte(mdp.WorkerHeader), {byte(mdp.CommandRequest)}}, req...)
		_, _ = b.sock.SendMessage(out)
	}
}

// purge deletes the expired waiting workers (the oldest come first).
func (b *pebbeBroker) purge() {
	for len(b.waiting) > 0 && b.waiting[0].expiry.Before(time.Now()) {
		b.delete(b.waiting[0], false)
	}
}

func (b *pebbeBroker) delete(w *pebbeWorker, disconnect bool) {
	if disconnect {
		b.send(w.id, mdp.CommandDisconnect)
	}
	if s := w.service; s != nil {
		s.waiting = slices.DeleteFunc(s.waiting, func(x *pebbeWorker) bool { return x == w })
		s.workers--
	}
	b.waiting = slices.DeleteFunc(b.waiting, func(x *pebbeWorker) bool { return x == w })
	delete(b.workers, w.id)
}

func (b *pebbeBroker) send(id string, cmd mdp.Command) {
	_, _ = b.sock.SendMessage(id, "", mdp.WorkerHeader, []byte{byte(cmd)})
}
