package mdp_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// The chaos tests run brokers and workers as processes (this test binary
// re-executed, see TestMain), kill them with SIGKILL or freeze them with
// SIGSTOP while clients send requests, and report what the clients saw.
// The default suite runs short versions; ZMQGUARD_CHAOS=N (make chaos)
// runs N times as many faults.

// The heartbeats of the chaos tests.
const (
	chaosIvl      = 100 * time.Millisecond // brokers and workers
	chaosLiveness = 3
	bstarIvl      = 100 * time.Millisecond // the Binary Star pair
	bstarLiveness = 5                      // peer expiry 500 ms
)

// chaosScale is how many times the short version's faults a run makes.
func chaosScale() int {
	if n, err := strconv.Atoi(os.Getenv("ZMQGUARD_CHAOS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// runWorkerPeer is the "mdworker" peer: an echo Worker for "echo"
// registered with the brokers $ZG_BROKERS (comma-separated), reporting each
// execution and taking $ZG_DELAY over each request.
func runWorkerPeer() error {
	brokers := strings.Split(os.Getenv("ZG_BROKERS"), ",")
	delay, _ := time.ParseDuration(os.Getenv("ZG_DELAY"))
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		testpeer.Executed(string(req[len(req)-1]))
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return req, nil
	}
	w, err := mdp.NewWorker(zctx, brokers, "echo", h, mdp.WithWorkerHeartbeat(chaosIvl, chaosLiveness),
		mdp.WithWorkerBackoff(reliable.Backoff{Initial: chaosIvl, Max: chaosIvl}))
	if err != nil {
		return err
	}
	testpeer.Ready(strings.Join(brokers, ","))
	return w.Run(context.Background())
}

// runBrokerPeer is the "mdbroker" peer: a Broker bound on $ZG_BIND, one
// server of a Binary Star pair when $ZG_ROLE is primary or backup (state
// published on $ZG_STATE, the peer's followed at $ZG_PEER).
func runBrokerPeer() error {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	opts := []mdp.BrokerOption{mdp.WithBrokerHeartbeat(chaosIvl, chaosLiveness), mdp.WithServiceWait(2 * time.Second)}
	if role := os.Getenv("ZG_ROLE"); role != "" {
		r := bstar.Primary
		if role == "backup" {
			r = bstar.Backup
		}
		p, err := bstar.New(zctx, r, os.Getenv("ZG_STATE"), os.Getenv("ZG_PEER"), bstar.WithHeartbeat(bstarIvl, bstarLiveness))
		if err != nil {
			return err
		}
		opts = append(opts, mdp.WithBinaryStar(p))
	}
	b, err := mdp.NewBroker(zctx, os.Getenv("ZG_BIND"), opts...)
	if err != nil {
		return err
	}
	testpeer.Ready(b.Endpoint())
	return b.Run(context.Background())
}

func startWorkerProc(t *testing.T, brokers []string, delay time.Duration) *testpeer.Proc {
	t.Helper()
	return testpeer.StartCustom(t, "mdworker", "ZG_BROKERS="+strings.Join(brokers, ","), "ZG_DELAY="+delay.String())
}

func startBrokerProc(t *testing.T, bind, role, state, peer string) *testpeer.Proc {
	t.Helper()
	return testpeer.StartCustom(t, "mdbroker", "ZG_BIND="+bind, "ZG_ROLE="+role, "ZG_STATE="+state, "ZG_PEER="+peer)
}

// chaosLoad is clients sending echo requests until stopped, each with a
// body of its own, recording what became of each.
type chaosLoad struct {
	c    *mdp.Client
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	order    []string             // bodies, in the order sent
	sent     map[string]time.Time // when each request started
	answered map[string]time.Time
	failed   map[string]error // requests that returned an error
	wrong    int
	hung     int
	active   string // the broker that answered last
}

// chaosHang bounds one request: a client that does not give up by itself
// by then is hung.
const chaosHang = 30 * time.Second

// startLoad starts clients sending requests through brokers, each request
// with up to attempts attempts of a second.
func startLoad(t *testing.T, zctx *zmq.Context, brokers []string, clients, attempts int) *chaosLoad {
	t.Helper()
	l := &chaosLoad{stop: make(chan struct{}), sent: map[string]time.Time{}, answered: map[string]time.Time{},
		failed: map[string]error{}}
	l.c = newClient(t, zctx, brokers, mdp.WithAttemptTimeout(time.Second), mdp.WithMaxAttempts(attempts),
		mdp.WithBackoff(reliable.Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond}),
		mdp.WithMaxInFlight(clients), mdp.WithClientEventHook(l.event))
	for i := range clients {
		l.wg.Go(func() { l.run(i) })
	}
	return l
}

func (l *chaosLoad) event(ev reliable.ClientEvent) {
	if ev.Kind == reliable.EventReply {
		l.mu.Lock()
		l.active = ev.Endpoint
		l.mu.Unlock()
	}
}

func (l *chaosLoad) run(client int) {
	for seq := 1; ; seq++ {
		select {
		case <-l.stop:
			return
		default:
		}
		body := fmt.Sprintf("c%d-%d", client, seq)
		l.mu.Lock()
		l.order = append(l.order, body)
		l.sent[body] = time.Now()
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), chaosHang)
		reply, err := l.c.Request(ctx, "echo", []byte(body))
		hung := ctx.Err() != nil
		cancel()
		l.mu.Lock()
		switch {
		case err == nil && len(reply) == 1 && string(reply[0]) == body:
			l.answered[body] = time.Now()
		case err == nil:
			l.wrong++
		case hung:
			l.hung++
		default:
			l.failed[body] = err
		}
		l.mu.Unlock()
	}
}

// finish stops the clients and waits for them: a client still busy after
// chaosHang is hung.
func (l *chaosLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(chaosHang + 5*time.Second):
		t.Fatal("clients hung")
	}
}

// awaitAnswer waits until the request with body is answered or failed,
// and returns when it was answered (zero if it failed).
func (l *chaosLoad) awaitAnswer(t *testing.T, body string) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, chaosHang, "request "+body+" to end", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		var ok bool
		at, ok = l.answered[body]
		_, failed := l.failed[body]
		return ok || failed
	})
	return at
}

// awaitFresh waits until a request sent after t0 is answered and returns
// how long after t0 that was: the recovery time of a fault at t0.
func (l *chaosLoad) awaitFresh(t *testing.T, t0 time.Time) time.Duration {
	t.Helper()
	var first time.Time
	waitFor(t, chaosHang, "a request sent after the fault to be answered", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for body, at := range l.answered {
			if l.sent[body].After(t0) && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
		return !first.IsZero()
	})
	return first.Sub(t0)
}

// awaitAnswers waits until n more requests have been answered.
func (l *chaosLoad) awaitAnswers(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	want := len(l.answered) + n
	l.mu.Unlock()
	waitFor(t, chaosHang, fmt.Sprintf("%d answers", n), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.answered) >= want
	})
}

func (l *chaosLoad) activeBroker() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// chaosReport is what a chaos run saw.
type chaosReport struct {
	Scenario   string
	Faults     int
	Sent       int
	Answered   int
	Wrong      int // answered with another request's reply
	Failed     int // returned an error (gave up, or an error reply)
	Lost       int // failed, and never executed by any worker
	Duplicated int // executed more than once
	Extra      int // executions beyond the first, over all requests
	Hung       int
	Retries    int            // client attempts beyond the first
	Causes     map[string]int // why requests failed
	Recovery   []time.Duration
}

func (r chaosReport) String() string {
	rec := slices.Clone(r.Recovery)
	slices.Sort(rec)
	recs := "-"
	switch {
	case len(rec) > 4:
		recs = fmt.Sprintf("median %v max %v over %d", rec[len(rec)/2].Round(time.Millisecond), rec[len(rec)-1].Round(time.Millisecond), len(rec))
	case len(rec) > 0:
		for i := range rec {
			rec[i] = rec[i].Round(time.Millisecond)
		}
		recs = fmt.Sprint(rec)
	}
	return fmt.Sprintf("%s: %d faults; %d sent, %d answered, %d wrong, %d failed %v, %d lost, %d duplicated (%d extra executions; %d client retries), %d hung; recovery %s",
		r.Scenario, r.Faults, r.Sent, r.Answered, r.Wrong, r.Failed, r.Causes, r.Lost, r.Duplicated, r.Extra, r.Retries, r.Hung, recs)
}

// report counts the outcome of every request sent, the executions from
// every worker process (all of them ended, so their output is complete).
func (l *chaosLoad) report(scenario string, faults int, workers []*testpeer.Proc, recovery []time.Duration) chaosReport {
	for _, w := range workers {
		w.Kill()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.c.Stats()
	r := chaosReport{Scenario: scenario, Faults: faults, Sent: len(l.order), Answered: len(l.answered),
		Wrong: l.wrong, Failed: len(l.failed), Hung: l.hung, Retries: int(st.Attempts - st.Requests + st.GiveUps),
		Causes: map[string]int{}, Recovery: recovery}
	for _, body := range l.order {
		n := 0
		for _, w := range workers {
			n += w.Executions(body)
		}
		if n > 1 {
			r.Duplicated++
			r.Extra += n - 1
		}
		if err, ok := l.failed[body]; ok {
			r.Causes[cause(err)]++
			if n == 0 {
				r.Lost++
			}
		}
	}
	return r
}

// cause names why a request failed: an error reply's code, or the last
// cause of a give-up.
func cause(err error) string {
	var re *reliable.RemoteError
	var nr *reliable.NoReplyError
	switch {
	case errorsAs(err, &nr) && nr.Last != nil && errorsAs(nr.Last, &re):
		return "gave-up:" + re.Code
	case errorsAs(err, &re):
		return re.Code
	case errorsAs(err, &nr):
		if errorsIs(nr.Last, reliable.ErrNotConnected) {
			return "gave-up:not-connected"
		}
		return "gave-up:timeout"
	}
	return err.Error()
}

// check asserts what every chaos run must show: nothing wrong, nothing
// hung, and no extra execution without a retry that explains it (each
// needs a client retry or a broker's retry of a dead worker's request).
func (r chaosReport) check(t *testing.T, brokerRetries int) {
	t.Helper()
	t.Log(r)
	assert.Zero(t, r.Wrong, "wrong answers")
	assert.Zero(t, r.Hung, "hung requests")
	assert.Positive(t, r.Answered)
	assert.LessOrEqual(t, r.Extra, r.Retries+brokerRetries, "every extra execution follows a retry")
	assert.Equal(t, r.Sent, r.Answered+r.Failed+r.Wrong+r.Hung)
}

// workerFaultSetup starts a broker in this process (to read its counters),
// three worker processes taking 100 ms over each request, and the load.
func workerFaultSetup(t *testing.T) (*mdp.Broker, brokerEvents, []*testpeer.Proc, *chaosLoad) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithBrokerHeartbeat(chaosIvl, chaosLiveness))
	var workers []*testpeer.Proc
	for range 3 {
		workers = append(workers, startWorkerProc(t, []string{b.Endpoint()}, 100*time.Millisecond))
		evs.joined(t, "echo")
	}
	return b, evs, workers, startLoad(t, zctx, []string{b.Endpoint()}, 4, 6)
}

// TestChaosWorkersKilled SIGKILLs the worker holding a request, again and
// again (never twice for one request: the broker retries once), starting a
// new worker each time: the broker gives the request to another worker, so
// nothing is lost; the request ran twice when the dead worker had
// executed it (window W1 of docs/MAJORDOMO.md).
func TestChaosWorkersKilled(t *testing.T) {
	faults := 3 * chaosScale()
	b, evs, workers, l := workerFaultSetup(t)
	brokers := []string{b.Endpoint()}
	live := slices.Clone(workers)
	killedOn := map[string]bool{} // requests whose worker was killed
	var recovery []time.Duration
	for i := range faults {
		victim := live[i%3]
		// One death per request: the broker retries a request once
		// (WithBrokerRetries' default), so a request whose second worker
		// died too would be answered worker-lost, by design.
		var body string
		for body == "" || killedOn[body] {
			var err error
			body, err = victim.NextExec(testCtx(t, chaosHang))
			require.NoError(t, err)
		}
		killedOn[body] = true
		killed := time.Now()
		victim.Kill() // mid-request: it takes 100 ms over each
		if at := l.awaitAnswer(t, body); !at.IsZero() {
			recovery = append(recovery, at.Sub(killed))
		}
		evs.kind(t, mdp.BrokerWorkerExpired)
		live[i%3] = startWorkerProc(t, brokers, 100*time.Millisecond)
		workers = append(workers, live[i%3])
		evs.joined(t, "echo")
	}
	l.awaitAnswers(t, 10)
	l.finish(t)
	st := b.Stats()
	r := l.report("workers SIGKILLed mid-request", faults, workers, recovery)
	r.check(t, int(st.Retried))
	t.Logf("broker: %+v", st)
	checkWorkerFaults(t, r, st, faults)
}

// checkWorkerFaults asserts what the worker-fault scenarios guarantee. The
// broker expires each victim and gives its request to another worker,
// once (WithBrokerRetries' default), and each request has at most one
// victim: so a request fails only as worker-lost, after a second worker
// holding it was expired, one the test did not touch (a live worker
// starved of CPU for liveness intervals on an overloaded machine, which
// the broker cannot tell from a dead one: window W1). On a machine that is
// not overloaded no such worker is expired, and nothing fails.
func checkWorkerFaults(t *testing.T, r chaosReport, st mdp.BrokerStats, faults int) {
	t.Helper()
	assert.GreaterOrEqual(t, int(st.Expired), faults)
	assert.GreaterOrEqual(t, int(st.Retried), faults)
	assert.Equal(t, r.Failed, r.Causes[wire.CodeWorkerLost], "failed only as worker-lost")
	assert.LessOrEqual(t, int(st.WorkerLost), int(st.Expired)-faults,
		"each worker-lost follows an expiry beyond the faults the test made")
}

// TestChaosWorkerFrozen SIGSTOPs the worker holding a request: its
// connection stays up, only heartbeats tell. The broker expires it and
// gives the request to another worker; on SIGCONT the frozen worker's late
// reply is dropped and it registers again.
func TestChaosWorkerFrozen(t *testing.T) {
	faults := 2 * chaosScale()
	b, evs, workers, l := workerFaultSetup(t)
	var recovery []time.Duration
	for i := range faults {
		victim := workers[i%3]
		body, err := victim.NextExec(testCtx(t, chaosHang))
		require.NoError(t, err)
		frozen := time.Now()
		victim.Stop()
		if at := l.awaitAnswer(t, body); !at.IsZero() {
			recovery = append(recovery, at.Sub(frozen))
		}
		evs.kind(t, mdp.BrokerWorkerExpired)
		victim.Cont()
		evs.joined(t, "echo") // it registers again
	}
	l.awaitAnswers(t, 10)
	l.finish(t)
	st := b.Stats()
	r := l.report("worker SIGSTOPped mid-request", faults, workers, recovery)
	r.check(t, int(st.Retried))
	t.Logf("broker: %+v", st)
	checkWorkerFaults(t, r, st, faults)
	for _, d := range recovery {
		// Detection takes liveness intervals of silence; then the retry.
		assert.Less(t, d, 10*chaosLiveness*chaosIvl)
	}
}

// pairProcs is a Binary Star pair of broker processes on fixed endpoints.
type pairProcs struct {
	frontends [2]string // primary, backup
	states    [2]string
	procs     [2]*testpeer.Proc
}

func startPairProcs(t *testing.T) *pairProcs {
	eps := zmqtest.FreeTCP(t, 4)
	pp := &pairProcs{frontends: [2]string{eps[0], eps[1]}, states: [2]string{eps[2], eps[3]}}
	pp.start(t, 0)
	pp.start(t, 1)
	return pp
}

func (pp *pairProcs) start(t *testing.T, i int) {
	t.Helper()
	role := [2]string{"primary", "backup"}[i]
	pp.procs[i] = startBrokerProc(t, pp.frontends[i], role, pp.states[i], pp.states[1-i])
}

// index returns which server of the pair has frontend ep.
func (pp *pairProcs) index(ep string) int {
	if ep == pp.frontends[1] {
		return 1
	}
	return 0
}

// TestChaosBrokerFailover SIGKILLs the active broker of a Binary Star
// pair and restarts it, again and again: the clients move to the other
// broker, which takes over on their first request once the dead one has
// been silent for the peer expiry; the restarted one comes back passive.
// Requests in flight at the dead broker are retried by the clients: a
// request whose worker had run it runs twice (window W3).
func TestChaosBrokerFailover(t *testing.T) {
	faults := 2 * chaosScale()
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pp := startPairProcs(t)
	brokers := pp.frontends[:]
	var workers []*testpeer.Proc
	for range 2 {
		workers = append(workers, startWorkerProc(t, brokers, 20*time.Millisecond))
	}
	l := startLoad(t, zctx, brokers, 4, 6)
	l.awaitAnswers(t, 20)
	var recovery []time.Duration
	for range faults {
		i := pp.index(l.activeBroker())
		killed := time.Now()
		pp.procs[i].Kill()
		recovery = append(recovery, l.awaitFresh(t, killed))
		require.NotEqual(t, i, pp.index(l.activeBroker()), "the other broker answers")
		pp.start(t, i) // comes back passive
		l.awaitAnswers(t, 20)
	}
	l.finish(t)
	r := l.report("active broker SIGKILLed and restarted", faults, workers, recovery)
	r.check(t, 0)
	assert.Zero(t, r.Failed, "the clients' retries outlast a failover")
}

// TestChaosBothBrokersKilled SIGKILLs the active broker of a pair, then,
// once the other has taken over, that one too; after an outage longer
// than the clients' retries it restarts the primary and then the backup.
// Requests sent during the outage give up (window W4: no broker); the
// primary serves again as soon as it is back, before it hears its peer.
func TestChaosBothBrokersKilled(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pp := startPairProcs(t)
	brokers := pp.frontends[:]
	var workers []*testpeer.Proc
	for range 2 {
		workers = append(workers, startWorkerProc(t, brokers, 20*time.Millisecond))
	}
	l := startLoad(t, zctx, brokers, 4, 3)
	var failover, restart []time.Duration
	for range chaosScale() {
		l.awaitAnswers(t, 20)
		first := pp.index(l.activeBroker())
		killed := time.Now()
		pp.procs[first].Kill()
		failover = append(failover, l.awaitFresh(t, killed))
		second := pp.index(l.activeBroker())
		require.NotEqual(t, first, second)
		l.mu.Lock()
		failed := len(l.failed)
		l.mu.Unlock()
		pp.procs[second].Kill()
		outage := time.Now()
		waitFor(t, chaosHang, "a request to give up", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.failed) > failed
		})
		restarted := time.Now()
		pp.start(t, 0) // the primary serves before it hears the backup
		restart = append(restart, l.awaitFresh(t, restarted))
		pp.start(t, 1)
		t.Logf("outage %v", restarted.Sub(outage).Round(time.Millisecond))
	}
	l.awaitAnswers(t, 20)
	l.finish(t)
	r := l.report("both brokers SIGKILLed, then restarted", 2*chaosScale(), workers, restart)
	t.Logf("recovery after the first kill (failover): %v; after the primary's restart: %v", failover, restart)
	r.check(t, 0)
	assert.Positive(t, r.Failed, "requests of the outage gave up")
	for c := range r.Causes {
		assert.True(t, strings.HasPrefix(c, "gave-up:"), "failed only by giving up: %s", c)
	}
	assert.NotContains(t, r.Causes, "gave-up:"+wire.CodeWorkerLost)
}
