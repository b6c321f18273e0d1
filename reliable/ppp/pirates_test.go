package ppp_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// The pirate matrix: our Queue and zguide's (testdata/peers/ppqueue.py),
// our Worker and zguide's strict one (ppworker.py: exactly [address, "",
// body]), with zguide's Lazy Pirate client (lpclient.py: int(reply) ==
// sequence) and reliable.Client in both modes, while workers are SIGKILLed
// and replaced. Every combination reports what its clients got (answered,
// lost, wrong, crashed) and how often the workers ran each request (extra
// executions). The clients time out as zguide's lpclient does, relative to
// the heartbeat: 2.5 intervals per try, 3 tries, against a liveness of 3
// intervals.
//
// TestPirates runs a short matrix in the default suite. Set
// ZMQGUARD_PIRATES to a duration (make pirates) for long runs of each
// combination, for figures.

// pirateIvl is the heartbeat interval of the matrix (Python peers on a
// busy 2-core machine stall for a few hundred milliseconds at start-up).
const pirateIvl = 250 * time.Millisecond

// pirateCfg is one combination.
type pirateCfg struct {
	queue, worker                string // "ours" or "zguide"
	workers                      int
	lpclients, correlated, plain int // clients of each kind, run at once
	requests                     int // per client; 0 with duration: until it ends
	duration                     time.Duration
	work                         time.Duration // each request's work at the worker
	killEvery                    time.Duration // a SIGKILL and a replacement this often
}

func (c pirateCfg) String() string {
	return fmt.Sprintf("queue=%s worker=%s", c.queue, c.worker)
}

// pirateTally is what one run saw.
type pirateTally struct {
	sent, answered, lost, wrong, crashed int
	executions, extra, kills             int
	invalid                              int // requests a strict worker refused as invalid
	byClient                             map[string]*[4]int
	errors                               map[string]int // why our clients' requests gave up
}

func (r *pirateTally) client(kind string, outcome int) {
	if r.byClient[kind] == nil {
		r.byClient[kind] = new([4]int)
	}
	r.byClient[kind][outcome]++
}

// Outcomes per client kind: sent, answered, lost, wrong.
const (
	outSent = iota
	outAnswered
	outLost
	outWrong
)

func (r *pirateTally) String() string {
	per := ""
	for _, k := range []string{"lpclient", "correlated", "plain"} {
		if c := r.byClient[k]; c != nil {
			per += fmt.Sprintf(" %s %d/%d/%d/%d", k, c[outSent], c[outAnswered], c[outLost], c[outWrong])
		}
	}
	perKill := 0.0
	if r.kills > 0 {
		perKill = float64(r.extra) / float64(r.kills)
	}
	return fmt.Sprintf("sent %d answered %d lost %d wrong %d crashed %d | executions %d extra %d kills %d (%.2f extra per kill) invalid %d | sent/answered/lost/wrong:%s",
		r.sent, r.answered, r.lost, r.wrong, r.crashed, r.executions, r.extra, r.kills, perKill, r.invalid, per)
}

// pirateWorker is a worker process of either kind.
type pirateWorker struct {
	kill  func()
	lines func() []string // what it printed so far (zguide's)
}

// runPirates runs one combination and returns its tally.
func runPirates(t *testing.T, cfg pirateCfg) *pirateTally {
	t.Helper()
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	count := filepath.Join(t.TempDir(), "count")
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	var frontend, backend string
	var evs queueEvents
	switch cfg.queue {
	case "ours":
		var q *ppp.Queue
		q, evs = startQueue(t, zctx, ppp.WithQueueHeartbeat(pirateIvl, 3))
		frontend, backend = q.Frontend(), q.Backend()
		t.Cleanup(func() { t.Logf("%v: queue stats %+v", cfg, q.Stats()) })
	case "zguide":
		pq := testpeer.StartPy(t, "ppqueue.py", "--interval-ms", ms(pirateIvl), "--liveness", "3")
		eps := strings.Fields(pq.Ready)
		require.Len(t, eps, 2, "ppqueue READY line %q", pq.Ready)
		frontend, backend = eps[0], eps[1]
	}
	startWorker := func() pirateWorker {
		if cfg.worker == "ours" {
			p := startWorkerProc(t, backend, pirateIvl, 3, cfg.work, "ZG_COUNT_FILE="+count)
			return pirateWorker{kill: p.Kill, lines: func() []string { return nil }}
		}
		p := testpeer.StartPy(t, "ppworker.py", "--connect", backend, "--interval-ms", ms(pirateIvl),
			"--liveness", "3", "--delay-ms", ms(cfg.work), "--count-file", count)
		var seen []string
		return pirateWorker{kill: p.Kill, lines: func() []string {
			for {
				select {
				case l, ok := <-p.Lines:
					if !ok {
						return seen
					}
					seen = append(seen, l)
				default:
					return seen
				}
			}
		}}
	}
	workers := make([]pirateWorker, cfg.workers)
	var retired []pirateWorker
	for i := range workers {
		workers[i] = startWorker()
		if evs != nil {
			evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
		}
	}

	tally := &pirateTally{byClient: map[string]*[4]int{}, errors: map[string]int{}}
	var mu sync.Mutex
	answeredBodies := map[string]bool{}
	record := func(kind string, body string, outcome int) {
		mu.Lock()
		defer mu.Unlock()
		tally.client(kind, outSent)
		tally.client(kind, outcome)
		tally.sent++
		switch outcome {
		case outAnswered:
			tally.answered++
			answeredBodies[body] = true
		case outLost:
			tally.lost++
		case outWrong:
			tally.wrong++
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if cfg.duration > 0 {
		ctx, stop = context.WithTimeout(ctx, cfg.duration)
		defer stop()
	}
	timeoutPerTry := pirateIvl * 5 / 2
	var clients sync.WaitGroup
	base := 0
	next := func() int { base += 100000; return base }
	for range cfg.lpclients {
		start := next()
		n := cfg.requests
		if n == 0 {
			n = int(cfg.duration/cfg.work) + 1 // more than it can send; stopped at the end
		}
		lp := testpeer.StartPy(t, "lpclient.py", "--connect", frontend, "--requests", strconv.Itoa(n),
			"--start", strconv.Itoa(start), "--timeout-ms", ms(timeoutPerTry), "--retries", "3")
		go func() {
			select {
			case <-lp.Exited:
			case <-ctx.Done():
				lp.CloseStdin() // ends it (exit 0)
			}
		}()
		clients.Add(1)
		go func() {
			defer clients.Done()
			var out []string
			gaveUp := false
			for l := range lp.Lines {
				out = append(out, l)
				switch {
				case strings.HasPrefix(l, "OK "):
					record("lpclient", strings.TrimPrefix(l, "OK "), outAnswered)
				case strings.HasPrefix(l, "GIVEUP "):
					record("lpclient", strings.TrimPrefix(l, "GIVEUP "), outLost)
					gaveUp = true // and it exits 2
				}
			}
			<-lp.Exited
			if lp.Err != nil && !gaveUp {
				mu.Lock()
				tally.crashed++ // a traceback (int(reply) of a reply that is not a number)
				mu.Unlock()
				t.Errorf("%v: lpclient exited with %v; output %q", cfg, lp.Err, out)
			}
		}()
	}
	ours := func(kind string, mode reliable.Mode) {
		start := next()
		c, err := reliable.NewClient(zctx, []string{frontend}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(timeoutPerTry), reliable.WithMaxAttempts(3))
		require.NoError(t, err)
		clients.Add(1)
		go func() {
			defer clients.Done()
			defer c.Close()
			for i := 0; cfg.requests == 0 || i < cfg.requests; i++ {
				if ctx.Err() != nil {
					return
				}
				body := strconv.Itoa(start + i)
				got, err := c.Request(context.Background(), []byte(body))
				switch {
				case err == nil && len(got) == 1 && string(got[0]) == body:
					record(kind, body, outAnswered)
				case err == nil:
					record(kind, body, outWrong)
					t.Errorf("%v: %s client: request %s answered %q", cfg, kind, body, got)
				default:
					record(kind, body, outLost)
					mu.Lock()
					tally.errors[kind+": "+errorKind(err)]++
					mu.Unlock()
				}
			}
		}()
	}
	for range cfg.correlated {
		ours("correlated", reliable.Correlated)
	}
	for range cfg.plain {
		ours("plain", reliable.Plain)
	}

	// Chaos: SIGKILL a random worker and start a replacement, until the
	// clients are done.
	done := make(chan struct{})
	go func() { clients.Wait(); close(done) }()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
chaos:
	for {
		// A workload pace with jitter, not synchronisation.
		pause := cfg.killEvery/2 + rand.N(cfg.killEvery)
		select {
		case <-done:
			break chaos
		case <-time.After(pause):
		}
		i := rng.IntN(len(workers))
		workers[i].kill()
		retired = append(retired, workers[i])
		tally.kills++
		workers[i] = startWorker()
	}

	data, err := os.ReadFile(count)
	require.NoError(t, err)
	runs := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		runs[l]++
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range runs {
		tally.executions += n
		if n > 1 {
			tally.extra += n - 1
		}
	}
	for body := range answeredBodies {
		if runs[body] == 0 {
			t.Errorf("%v: request %s answered, but no worker ran it", cfg, body)
		}
	}
	for _, w := range append(retired, workers...) {
		for _, l := range w.lines() {
			if strings.HasPrefix(l, "INVALID") {
				tally.invalid++
			}
		}
	}
	t.Logf("%v: %v", cfg, tally)
	if len(tally.errors) > 0 {
		t.Logf("%v: why requests gave up: %v", cfg, tally.errors)
	}
	return tally
}

// errorKind names why a request failed, for the tally.
func errorKind(err error) string {
	var re *reliable.RemoteError
	var nr *reliable.NoReplyError
	switch {
	case errors.As(err, &re):
		return "remote " + re.Code
	case errors.As(err, &nr) && nr.Last != nil:
		return fmt.Sprintf("no reply after %d attempts, last %v", nr.Attempts, nr.Last)
	}
	return err.Error()
}

// pirateMatrix is every combination: ours and zguide's queue, ours and
// zguide's worker. zguide's queue with zguide's workers cannot serve a
// correlated client (its ID frame makes the request four frames, which
// zguide's worker refuses; TestCorrelatedThroughZguideQueueAndWorker), so
// that combination runs only zguide's client and ours in Plain mode.
func pirateMatrix() []pirateCfg {
	var out []pirateCfg
	for _, qw := range [][2]string{{"ours", "zguide"}, {"zguide", "ours"}, {"ours", "ours"}, {"zguide", "zguide"}} {
		c := pirateCfg{queue: qw[0], worker: qw[1], workers: 3, lpclients: 2, correlated: 2, plain: 2,
			work: 60 * time.Millisecond, killEvery: 3 * pirateIvl}
		if c.queue == "zguide" && c.worker == "zguide" {
			c.correlated = 0
		}
		out = append(out, c)
	}
	return out
}

// TestPirates runs the matrix: every request answered right or, where
// nothing can help it, lost; never a wrong answer or a crashed client.
func TestPirates(t *testing.T) {
	long := pirateDuration(t)
	for _, cfg := range pirateMatrix() {
		t.Run(cfg.queue+"Queue/"+cfg.worker+"Worker", func(t *testing.T) {
			if long > 0 {
				cfg.duration = long
			} else {
				cfg.requests = 20
			}
			r := runPirates(t, cfg)
			assert.Zero(t, r.wrong, "wrong answers")
			assert.Zero(t, r.crashed, "crashed clients")
			assert.Equal(t, r.sent, r.answered+r.lost+r.wrong)
			if cfg.queue == "ours" {
				assert.Zero(t, r.invalid, "a strict worker refused a request from our queue")
				assert.Zero(t, r.lost, "our queue retries what a dead worker held")
			}
			// zguide's queue does not retry: a request is lost when every
			// try met a dying worker, which two kills in a row can do.
			assert.LessOrEqual(t, r.lost, r.kills, "lost requests")
			assert.Positive(t, r.answered)
		})
	}
}

// pirateDuration returns $ZMQGUARD_PIRATES as a duration (0 when unset).
func pirateDuration(t *testing.T) time.Duration {
	s := os.Getenv("ZMQGUARD_PIRATES")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err, "ZMQGUARD_PIRATES")
	return d
}
