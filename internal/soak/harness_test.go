package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/faultproxy"
	"github.com/zmqguard/zmqguard/internal/procstat"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// config sizes a soak run.
type config struct {
	duration    time.Duration
	servers     int
	corrClients int // correlated Clients, each shared by corrPer goroutines
	corrPer     int
	corrSingle  int // correlated Clients with one endpoint each: their retries meet the same server's dedupe
	plainCients int // plain Clients, each shared by plainPer goroutines
	plainPer    int
	reqSockets  int // ReqSockets, one goroutine each
	chaos       int // chaos goroutines
	period      time.Duration
	deadline    time.Duration // per request
}

// The kinds of worker, by the outcome rules that apply to them.
const (
	kindCorr  = "correlated"
	kindCorr1 = "corr-1ep"
	kindPlain = "plain"
	kindReq   = "reqsocket"
)

// hangSlack is how far past its deadline a call may return before it
// counts as hung: the scheduler under -race on two cores, not the library.
const hangSlack = time.Second

type worker struct {
	id   int
	kind string
	res  results
	do   func(ctx context.Context, key string, payload []byte) (rep [][]byte, outcome, example string)
}

// results is what one worker saw.
type results struct {
	outcomes map[string]int
	lat      map[string][]time.Duration // by worker kind, correct replies only
	examples []string                   // of violations
	maxOver  time.Duration              // worst return past the deadline
}

func (r *results) add(kind, outcome string, d time.Duration, example string) {
	if r.outcomes == nil {
		r.outcomes, r.lat = map[string]int{}, map[string][]time.Duration{}
	}
	r.outcomes[outcome]++
	if outcome == "ok" || outcome == "remote-error(expected)" {
		r.lat[kind] = append(r.lat[kind], d)
	}
	if example != "" && len(r.examples) < 5 {
		r.examples = append(r.examples, example)
	}
}

// Violations are outcomes whose names start with "VIOLATION".
func isViolation(outcome string) bool { return strings.HasPrefix(outcome, "VIOLATION") }

// classifyReply checks a reply's content against the request.
func classifyReply(key string, payload []byte, rep [][]byte) (string, string) {
	switch {
	case len(rep) == 2 && string(rep[0]) == key && bytes.Equal(rep[1], checksum([]byte(key), payload)):
		if failKey(key) {
			return "VIOLATION wrong reply", fmt.Sprintf("%s: a reply, but the handler refuses this key", key)
		}
		return "ok", ""
	case len(rep) >= 1 && string(rep[0]) != key && !bytes.Equal(rep[0], []byte(wire.PlainErrorMarker)):
		return "VIOLATION stale reply", fmt.Sprintf("%s: reply for %q", key, rep[0])
	default:
		return "VIOLATION wrong reply", fmt.Sprintf("%s: reply %q", key, rep)
	}
}

// classifyRemote checks an error reply.
func classifyRemote(key, code, msg string) (string, string) {
	if code == wire.CodeHandler {
		if failKey(key) && msg == "refused "+key {
			return "remote-error(expected)", ""
		}
		return "VIOLATION wrong reply", fmt.Sprintf("%s: error reply %s %q", key, code, msg)
	}
	return "remote-error " + code, "" // typed: shutdown, overloaded, timeout
}

func classifyClientErr(key string, err error) (string, string) {
	var re *reliable.RemoteError
	var nr *reliable.NoReplyError
	switch {
	case errors.As(err, &re):
		return classifyRemote(key, re.Code, re.Message)
	case errors.As(err, &nr):
		switch {
		case nr.Ctx != nil:
			return "no-reply: deadline", ""
		case errors.Is(nr.Last, reliable.ErrPeerGone):
			return "no-reply: peer gone", ""
		case errors.Is(nr.Last, reliable.ErrNotConnected):
			return "no-reply: not connected", ""
		case errors.Is(nr.Last, os.ErrDeadlineExceeded):
			return "no-reply: attempts timed out", ""
		}
		return "no-reply: " + fmt.Sprintf("%T", nr.Last), ""
	}
	return "VIOLATION untyped error", fmt.Sprintf("%s: %T %v", key, err, err)
}

func classifyReqErr(key string, err error) (string, string) {
	var errno zmq.Errno
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "req: timeout", ""
	case errors.As(err, &errno):
		return "req: errno " + errno.Error(), ""
	}
	return "VIOLATION untyped error", fmt.Sprintf("%s: %T %v", key, err, err)
}

// request makes one request and classifies it. do returns the reply or the
// classified error.
func (w *worker) request(n int, deadline time.Duration, rng *rand.Rand) string {
	key := fmt.Sprintf("%d-%d", w.id, n)
	payload := make([]byte, 16+rng.IntN(2048))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	start := time.Now()
	rep, outcome, example := w.do(ctx, key, payload)
	el := time.Since(start)
	cancel()
	if outcome == "" {
		outcome, example = classifyReply(key, payload, rep)
	}
	if over := el - deadline; over > w.res.maxOver {
		w.res.maxOver = over
	}
	if el > deadline+hangSlack {
		outcome, example = "VIOLATION hung call", fmt.Sprintf("%s: returned after %v (%s)", key, el, outcome)
	}
	w.res.add(w.kind, outcome, el, example)
	return outcome
}

// loop makes requests until ctx ends.
func (w *worker) loop(ctx context.Context, deadline time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(w.id), 1))
	for n := 1; ctx.Err() == nil; n++ {
		w.request(n, deadline, rng)
	}
}

// faults counts chaos actions by kind.
type faults struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *faults) add(kind string) {
	f.mu.Lock()
	f.n[kind]++
	f.mu.Unlock()
}

func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// chaos injects one fault at a time on random servers until ctx ends; every
// fault is reverted before the next one and before chaos returns.
func chaos(ctx context.Context, t *testing.T, rng *rand.Rand, srvs []*server, proxies []*faultproxy.Proxy, period time.Duration, f *faults) {
	sleep := func(d time.Duration) {
		select {
		case <-time.After(d): // chaos timing, not synchronisation
		case <-ctx.Done():
		}
	}
	var kinds []int // shuffled rounds: every kind of fault comes up
	for ctx.Err() == nil {
		if len(kinds) == 0 {
			kinds = rng.Perm(6)
		}
		sleep(jitter(rng, period/2, period*3/2))
		if ctx.Err() != nil {
			return
		}
		i := rng.IntN(len(srvs))
		s, p := srvs[i], proxies[i]
		if !s.mu.TryLock() {
			continue // another chaos goroutine is at this server
		}
		kind := kinds[0]
		kinds = kinds[1:]
		switch kind {
		case 0:
			s.kill()
			f.add("SIGKILL+restart")
			sleep(jitter(rng, 100*time.Millisecond, time.Second))
			if err := s.start(t); err != nil {
				t.Errorf("restart server %d: %v", i, err)
			}
		case 1:
			s.signal(syscall.SIGSTOP)
			f.add("SIGSTOP/SIGCONT")
			sleep(jitter(rng, 200*time.Millisecond, 2*time.Second))
			s.signal(syscall.SIGCONT)
		case 2:
			p.SetLatency(jitter(rng, 20*time.Millisecond, 400*time.Millisecond))
			f.add("latency")
			sleep(jitter(rng, 500*time.Millisecond, 3*time.Second))
			p.SetLatency(0)
		case 3:
			p.SetBlackhole(true)
			f.add("blackhole")
			sleep(jitter(rng, 200*time.Millisecond, 2*time.Second))
			p.SetBlackhole(false)
		case 4:
			p.ResetAll()
			f.add("connection reset")
		case 5:
			p.SetBandwidth(2000 + rng.IntN(48000))
			f.add("bandwidth limit")
			sleep(jitter(rng, 500*time.Millisecond, 3*time.Second))
			p.SetBandwidth(0)
		}
		s.mu.Unlock()
	}
}

// runSoak runs one soak and checks its zero counts.
func runSoak(t *testing.T, cfg config) {
	runtime.GC()
	base := procstat.Read()
	peak := base
	var peakMu sync.Mutex
	sample := func() {
		s := procstat.Read()
		peakMu.Lock()
		peak = procstat.Max(peak, s)
		peakMu.Unlock()
	}

	led := newLedger()
	srvs := make([]*server, cfg.servers)
	proxies := make([]*faultproxy.Proxy, cfg.servers)
	endpoints := make([]string, cfg.servers)
	defer func() { // on every path, nothing outlives the test
		for i := range srvs {
			if srvs[i] != nil {
				srvs[i].kill()
			}
			if proxies[i] != nil {
				proxies[i].Close()
			}
		}
	}()
	for i := range srvs {
		srvs[i] = &server{idx: i, ledger: led}
		require.NoError(t, srvs[i].start(t))
		p, err := faultproxy.New(srvs[i].upHost)
		require.NoError(t, err)
		proxies[i] = p
		endpoints[i] = "tcp://" + p.Addr()
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0), zmq.WithTermTimeout(10*time.Second))
	require.NoError(t, err)
	clientOpts := []reliable.ClientOption{
		reliable.WithAttemptTimeout(800 * time.Millisecond),
		reliable.WithMaxAttempts(4),
	}
	var workers []*worker
	var closers []func() error
	var clients []*reliable.Client
	newWorker := func(kind string) *worker {
		w := &worker{id: len(workers), kind: kind}
		workers = append(workers, w)
		return w
	}
	addClients := func(mode reliable.Mode, kind string, count, per int, single bool) {
		for i := range count {
			eps := endpoints
			if single {
				eps = endpoints[i%len(endpoints) : i%len(endpoints)+1]
			}
			c, err := reliable.NewClient(zctx, eps, append(clientOpts, reliable.WithMode(mode))...)
			require.NoError(t, err)
			clients = append(clients, c)
			closers = append(closers, c.Close)
			for range per {
				w := newWorker(kind)
				w.do = func(ctx context.Context, key string, payload []byte) ([][]byte, string, string) {
					rep, err := c.Request(ctx, []byte(key), payload)
					if err != nil {
						o, e := classifyClientErr(key, err)
						return nil, o, e
					}
					return rep, "", ""
				}
			}
		}
	}
	addClients(reliable.Correlated, kindCorr, cfg.corrClients, cfg.corrPer, false)
	addClients(reliable.Correlated, kindCorr1, cfg.corrSingle, 1, true)
	addClients(reliable.Plain, kindPlain, cfg.plainCients, cfg.plainPer, false)
	for i := range cfg.reqSockets {
		r, err := reliable.NewReqSocket(zctx)
		require.NoError(t, err)
		require.NoError(t, r.Connect(endpoints[i%len(endpoints)]))
		// One attempt of at most 1.5 s each way: the drop-in has no
		// retries; a timeout resets the socket.
		require.NoError(t, r.SetSndtimeo(1500*time.Millisecond))
		require.NoError(t, r.SetRcvtimeo(1500*time.Millisecond))
		closers = append(closers, r.Close)
		w := newWorker(kindReq)
		w.do = func(_ context.Context, key string, payload []byte) ([][]byte, string, string) {
			if _, err := r.SendMessage([]byte(key), payload); err != nil {
				o, e := classifyReqErr(key, err)
				return nil, o, e
			}
			rep, err := r.RecvMessageBytes(0)
			if err != nil {
				o, e := classifyReqErr(key, err)
				return nil, o, e
			}
			if len(rep) == 3 && string(rep[0]) == wire.PlainErrorMarker {
				o, e := classifyRemote(key, string(rep[1]), string(rep[2]))
				return nil, o, e
			}
			return rep, "", ""
		}
	}
	mustNotRepeat := func(w int) bool { return workers[w].kind != kindPlain }

	// Run: workers, sampler, chaos.
	ctx, stop := context.WithTimeout(context.Background(), cfg.duration)
	defer stop()
	var wg sync.WaitGroup
	var running atomic.Int32
	for _, w := range workers {
		wg.Add(1)
		running.Add(1)
		go func() { defer wg.Done(); defer running.Add(-1); w.loop(ctx, cfg.deadline) }()
	}
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample()
			case <-ctx.Done():
				return
			}
		}
	}()
	f := &faults{n: map[string]int{}}
	var chaosWG sync.WaitGroup
	for i := range cfg.chaos {
		chaosWG.Add(1)
		go func() {
			defer chaosWG.Done()
			chaos(ctx, t, rand.New(rand.NewPCG(uint64(i), 3)), srvs, proxies, cfg.period, f)
		}()
	}
	start := time.Now()
	<-ctx.Done()
	chaosWG.Wait() // every fault reverted
	<-samplerDone

	// Every worker finishes its last call within the deadline (+slack).
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(cfg.deadline + 5*time.Second):
		t.Fatalf("%d workers still in a call %v after the soak ended: hung", running.Load(), cfg.deadline+5*time.Second)
	}
	elapsed := time.Since(start)
	sample()

	// Recovery: with the faults gone, every kind of client gets a correct
	// reply again within a few seconds.
	for i, s := range srvs {
		if s.cmd == nil {
			require.NoError(t, s.start(t), "server %d", i)
		}
	}
	var recovery time.Duration
	for _, w := range workers {
		rng := rand.New(rand.NewPCG(uint64(w.id), 4))
		probe := &worker{id: w.id, kind: w.kind, do: w.do}
		t0 := time.Now()
		for n := 1 << 39; ; n++ {
			o := probe.request(n, cfg.deadline, rng)
			if o == "ok" || o == "remote-error(expected)" {
				break
			}
			require.False(t, isViolation(o), "recovery probe of worker %d: %s %v", w.id, o, probe.res.examples)
			require.Less(t, time.Since(t0), 30*time.Second, "worker %d (%s) does not recover: %v", w.id, w.kind, probe.res.outcomes)
		}
		recovery = max(recovery, time.Since(t0))
	}

	var clientStats reliable.ClientStats
	for _, c := range clients {
		s := c.Stats()
		clientStats.Requests += s.Requests
		clientStats.Attempts += s.Attempts
		clientStats.StaleDropped += s.StaleDropped
		clientStats.Resets += s.Resets
		clientStats.Malformed += s.Malformed
		clientStats.FailedFast += s.FailedFast
		clientStats.Timeouts += s.Timeouts
	}

	// Shutdown, then the client process must be back at its baseline.
	for _, c := range closers {
		require.NoError(t, c())
	}
	for i := range srvs {
		srvs[i].kill()
		require.NoError(t, proxies[i].Close())
	}
	require.NoError(t, zctx.Term())
	after := settle(base)

	// Aggregate.
	total := map[string]int{}
	lat := map[string][]time.Duration{}
	var examples []string
	var maxOver time.Duration
	requests := 0
	for _, w := range workers {
		for o, n := range w.res.outcomes {
			total[o] += n
			requests += n
		}
		for k, ds := range w.res.lat {
			lat[k] = append(lat[k], ds...)
		}
		examples = append(examples, w.res.examples...)
		maxOver = max(maxOver, w.res.maxOver)
	}
	dupViol, dupExpected, crossPID, dupExamples := led.dupes(mustNotRepeat)
	if dupViol > 0 {
		total["VIOLATION executed twice"] = dupViol
	}
	examples = append(examples, dupExamples...)

	var b strings.Builder
	fmt.Fprintf(&b, "soak summary: %v, %d servers, %d workers (%d correlated, %d correlated with one endpoint, %d plain, %d ReqSocket), deadline %v\n",
		elapsed.Round(time.Second), cfg.servers, len(workers), cfg.corrClients*cfg.corrPer, cfg.corrSingle, cfg.plainCients*cfg.plainPer, cfg.reqSockets, cfg.deadline)
	fmt.Fprintf(&b, "  requests: %d (%.0f/s)\n", requests, float64(requests)/elapsed.Seconds())
	fmt.Fprintf(&b, "  outcomes:\n")
	for _, o := range sortedKeys(total) {
		fmt.Fprintf(&b, "    %-34s %8d\n", o, total[o])
	}
	for _, v := range []string{"VIOLATION wrong reply", "VIOLATION stale reply", "VIOLATION hung call", "VIOLATION executed twice", "VIOLATION untyped error"} {
		if total[v] == 0 {
			fmt.Fprintf(&b, "    %-34s %8d\n", v, 0)
		}
	}
	fmt.Fprintf(&b, "  re-executions outside dedupe's scope: %d keys by plain-mode retries, %d keys by more than one server process (failover, restart)\n", dupExpected, crossPID)
	fmt.Fprintf(&b, "  retries answered by server dedupe without executing: %d; reply-cache evictions: %d\n", led.suppressed, led.evicted)
	fmt.Fprintf(&b, "  latest return past a deadline: %v (hung beyond %v)\n", maxOver.Round(time.Millisecond), hangSlack)
	fmt.Fprintf(&b, "  latency of answered requests (p50 / p90 / p99 / p99.9 / max):\n")
	for _, k := range sortedKeys(lat) {
		ds := lat[k]
		slices.Sort(ds)
		fmt.Fprintf(&b, "    %-11s n=%-8d %v / %v / %v / %v / %v\n", k, len(ds), pct(ds, 50), pct(ds, 90), pct(ds, 99), pct(ds, 99.9), pct(ds, 100))
	}
	fmt.Fprintf(&b, "  after the chaos, every worker answered again within %v\n", recovery.Round(time.Millisecond))
	fmt.Fprintf(&b, "  faults injected:")
	for _, k := range sortedKeys(f.n) {
		fmt.Fprintf(&b, " %s=%d", k, f.n[k])
	}
	var resets, dropped int64
	for _, p := range proxies {
		resets += p.Stats().Resets.Load()
		dropped += p.Stats().Dropped.Load()
	}
	fmt.Fprintf(&b, "\n  proxies: %d connections reset, %d bytes blackholed\n", resets, dropped)
	fmt.Fprintf(&b, "  clients: attempts=%d timeouts=%d failed-fast=%d resets=%d stale-dropped=%d malformed=%d\n",
		clientStats.Attempts, clientStats.Timeouts, clientStats.FailedFast, clientStats.Resets, clientStats.StaleDropped, clientStats.Malformed)
	fmt.Fprintf(&b, "  client process: baseline %v\n", base)
	fmt.Fprintf(&b, "                  peak     %v\n", peak)
	fmt.Fprintf(&b, "                  after    %v (the soak's own records are still live; RSS is reported, not asserted)\n", after)
	for _, e := range examples {
		fmt.Fprintf(&b, "  violation: %s\n", e)
	}
	if testing.Verbose() {
		fmt.Print(b.String()) // unindented, for make soak's log
	} else {
		t.Log("\n" + b.String())
	}

	for o, n := range total {
		assert.False(t, isViolation(o), "%s: %d", o, n)
	}
	assert.Zero(t, led.bad, "unparsable EXEC lines")
	assert.Zero(t, led.evicted, "reply-cache evictions (would excuse re-executions)")
	assert.Positive(t, total["ok"], "no request succeeded")
	assert.LessOrEqual(t, after.FDs, base.FDs+2, "fds back to baseline")
	assert.LessOrEqual(t, after.Goroutines, base.Goroutines+2, "goroutines back to baseline")
	// The Go runtime keeps the OS threads it created (idle Ms are not
	// released); libzmq's threads end with zctx.Term. Allow the runtime
	// its growth, no more.
	assert.LessOrEqual(t, after.Threads, base.Threads+8, "threads back to baseline")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i].Round(100 * time.Microsecond)
}

// settle waits (bounded) for the counts to come back down to base, then
// samples: fds of closed sockets and goroutines end asynchronously.
func settle(base procstat.Sample) procstat.Sample {
	deadline := time.Now().Add(10 * time.Second)
	for {
		debug.FreeOSMemory() // GC and return freed pages, so RSS means something
		s := procstat.Read()
		if (s.FDs <= base.FDs && s.Goroutines <= base.Goroutines) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(50 * time.Millisecond) // polling a count: no event to await
	}
}
