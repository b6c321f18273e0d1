// Command lazypirate is zmqguard's main demonstration. A client keeps
// sending requests to an echo server that, on a schedule drawn from a
// seeded random generator, replies late, hangs, or crashes: the server is a
// child process of this program, killed with SIGKILL and restarted.
//
// Three clients meet the same schedule in turn:
//
//   - a raw pebbe/zmq4 REQ socket, written the way most programs are: it
//     gets stuck at the first lost reply and is cut off by a watchdog;
//   - zmqguard's reliable.Client in Correlated mode (a DEALER with request
//     ids): it retries, drops the late replies as stale and never resets;
//   - reliable.Client in Plain mode (a REQ socket, zguide's Lazy Pirate):
//     it resets its socket after each failed attempt.
//
// Per request it prints the attempts, resets, stale replies and outcome,
// and at the end a summary table. Run it with `make demo` or
// `(cd examples && go run ./lazypirate)` (-seed and -requests change the schedule).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// The server's behaviours, one letter per request in the schedule.
const (
	ok     = '.' // answers at once
	late   = 'L' // answers the first attempt after lateDelay
	hang   = 'H' // never answers the first attempt
	crash  = 'C' // dies on the first attempt; restarted after crashDown
	outage = 'X' // dies on the first attempt; restarted after outageDown
)

// Timings. A request's budget (3 attempts × attemptTimeout, 750 ms from
// its start, plus the backoff pauses; only attempts that reach a server
// count, and while none is up the client waits for one) is shorter than
// outageDown, so the request that meets an outage gives up, and longer
// than crashDown, so a crash is survived.
const (
	attemptTimeout = 250 * time.Millisecond
	maxAttempts    = 3
	lateDelay      = 350 * time.Millisecond
	crashDown      = 250 * time.Millisecond
	outageDown     = 1200 * time.Millisecond
	watchdog       = time.Second
)

var backoffPolicy = reliable.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: -1} // no jitter: the schedule is the same every run

// Environment variables of the server child process.
const (
	envEndpoint = "LAZYPIRATE_SERVER" // endpoint to bind; set only in the child
	envPlan     = "LAZYPIRATE_PLAN"   // the schedule
	envSpent    = "LAZYPIRATE_SPENT"  // requests up to this one behave as ok
)

func main() {
	if ep := os.Getenv(envEndpoint); ep != "" {
		runServer(ep, os.Getenv(envPlan), os.Getenv(envSpent))
		return
	}
	seed := flag.Uint64("seed", 7, "seed of the server's schedule")
	n := flag.Int("requests", 10, "requests per client (at least 6)")
	flag.Parse()
	if *n < 6 {
		fmt.Fprintln(os.Stderr, "lazypirate: -requests must be at least 6")
		os.Exit(64)
	}
	plan := makePlan(*seed, *n)
	fmt.Printf("server schedule (seed %d): %s\n", *seed, plan)
	fmt.Printf("  . answer  L late (%v)  H hang  C crash (SIGKILL, restart after %v)  X outage (restart after %v)\n",
		lateDelay, crashDown, outageDown)
	fmt.Printf("clients: %v per attempt, %d attempts, backoff %v doubling; a request's budget: %v and the pauses\n\n",
		attemptTimeout, maxAttempts, backoffPolicy.Initial, maxAttempts*attemptTimeout)

	rows := []row{runPebbe(plan), runGuard(plan, reliable.Correlated), runGuard(plan, reliable.Plain)}
	printSummary(plan, rows)
}

// makePlan returns a schedule of n requests: one crash and one outage,
// (n-1)/4 late replies and as many hangs, the rest answered. The first
// request is answered, no fault follows an outage directly, and no crash
// comes within two requests after a late reply (it would kill the late
// reply, which the demo wants to see arrive and be dropped).
func makePlan(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for {
		p := []byte(strings.Repeat(string(ok), n))
		faults := []byte{crash, outage}
		for i := 0; i < max(1, (n-1)/4); i++ {
			faults = append(faults, late, hang)
		}
		slots := r.Perm(n - 1)
		for i, f := range faults {
			p[1+slots[i]] = f
		}
		if i := strings.IndexByte(string(p), outage); i < n-1 && p[i+1] != ok {
			continue
		}
		if !strings.Contains(string(p), "LC") && !strings.Contains(string(p), "LX") &&
			!regexp.MustCompile(`L.[CX]`).MatchString(string(p)) {
			return string(p)
		}
	}
}

// row is one client's line of the summary table.
type row struct {
	name                                    string
	sent, answered, gaveUp, attempts, reset int
	stale                                   int
	stuck                                   bool
	latencies, recoveries                   []time.Duration
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "lazypirate:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- server

// runServer is the child process: an echo server on a ROUTER socket that
// misbehaves on the first sighting of each scheduled request. It exits when
// its stdin closes (the parent is gone).
func runServer(ep, plan, spentArg string) {
	spent, _ := strconv.Atoi(spentArg)
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	}()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	s, err := zctx.NewSocket(zmq.ROUTER)
	check(err)
	check(s.Bind(ep))
	fmt.Println("READY")

	type pending struct {
		due time.Time
		msg [][]byte
	}
	var later []pending
	seen := map[int]bool{}
	for {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if len(later) > 0 {
			ctx, cancel = context.WithDeadline(ctx, later[0].due)
		}
		msg, err := timeout.RecvMessageBytes(ctx, s)
		cancel()
		for len(later) > 0 && !time.Now().Before(later[0].due) {
			_, _ = s.SendMessageDontwait(asAny(later[0].msg)...)
			later = later[1:]
		}
		if err != nil {
			continue
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(string(msg[len(msg)-1]), "req-"))
		what := byte(ok)
		if i >= 1 && i <= len(plan) && i > spent && !seen[i] {
			what = plan[i-1]
		}
		seen[i] = true
		switch what {
		case late:
			later = append(later, pending{time.Now().Add(lateDelay), msg})
		case hang:
		case crash, outage:
			fmt.Println("CRASH", i) // the parent kills us now
			select {}
		default:
			_, _ = s.SendMessageDontwait(asAny(msg)...)
		}
	}
}

func asAny(parts [][]byte) []any {
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// server runs the child process, and kills and restarts it when it says
// it crashes.
type server struct {
	ep   string
	plan string

	mu      sync.Mutex
	cmd     *exec.Cmd
	stdin   io.Closer
	killed  time.Time // when the last crash happened; zero once recovered
	stopped bool
	done    chan struct{} // closed by stop
	wg      sync.WaitGroup
}

func startServer(plan string) *server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	ep := "tcp://" + l.Addr().String()
	check(l.Close())
	s := &server{ep: ep, plan: plan, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spawn(0)
	return s
}

// spawn starts the child and waits until it is bound; s.mu is held.
func (s *server) spawn(spent int) {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envEndpoint+"="+s.ep, envPlan+"="+s.plan, envSpent+"="+strconv.Itoa(spent))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "READY" {
		check(fmt.Errorf("server process did not start: %q %v", lines.Text(), lines.Err()))
	}
	s.cmd, s.stdin = cmd, stdin
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for lines.Scan() {
			var i int
			if _, err := fmt.Sscanf(lines.Text(), "CRASH %d", &i); err == nil {
				s.crash(cmd, i)
				return
			}
		}
		_ = cmd.Wait()
	}()
}

// crash kills the child with SIGKILL and restarts it after the scheduled
// down time.
func (s *server) crash(cmd *exec.Cmd, i int) {
	check(cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	down := crashDown
	if s.plan[i-1] == outage {
		down = outageDown
	}
	s.mu.Lock()
	s.killed = time.Now()
	s.mu.Unlock()
	fmt.Printf("      ! server killed with SIGKILL (request %d); restarting in %v\n", i, down)
	select {
	case <-time.After(down): // the outage itself
	case <-s.done:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.spawn(i)
		fmt.Println("      ! server restarted")
	}
}

// recovered returns how long ago the server was killed, if a crash has not
// been followed by an answer yet, and marks it recovered.
func (s *server) recovered() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.killed.IsZero() {
		return 0, false
	}
	d := time.Since(s.killed)
	s.killed = time.Time{}
	return d, true
}

func (s *server) stop() {
	s.mu.Lock()
	s.stopped = true
	close(s.done)
	cmd, stdin := s.cmd, s.stdin
	s.mu.Unlock()
	_ = stdin.Close()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	s.wg.Wait()
}

// ---------------------------------------------------------------- clients

// runPebbe is the program most people write first: a pebbe/zmq4 REQ socket
// with no timeout. A watchdog cuts it off when it stops making progress.
func runPebbe(plan string) row {
	fmt.Println("== raw pebbe/zmq4 REQ client (no timeout, as most programs are written)")
	srv := startServer(plan)
	defer srv.stop()
	r := row{name: "pebbe/zmq4 REQ"}

	// A context of its own, never terminated: its socket stays blocked in
	// libzmq until the process exits, which is the point.
	pctx, err := zmq4.NewContext()
	check(err)
	req, err := pctx.NewSocket(zmq4.REQ)
	check(err)
	check(req.SetLinger(0))
	check(req.Connect(srv.ep))

	type result struct {
		i   int
		lat time.Duration
	}
	progress := make(chan result, len(plan))
	sent := make(chan int, len(plan))
	go func() {
		for i := 1; i <= len(plan); i++ {
			start := time.Now()
			if _, err := req.SendMessage(fmt.Sprintf("req-%d", i)); err != nil {
				return
			}
			sent <- i
			if _, err := req.RecvMessage(0); err != nil {
				return
			}
			progress <- result{i, time.Since(start)}
		}
	}()
	for {
		select {
		case i := <-sent:
			r.sent, r.attempts = i, i
		case res := <-progress:
			r.answered++
			r.latencies = append(r.latencies, res.lat)
			fmt.Printf("  request %2d [%c]: answered in %v\n", res.i, plan[res.i-1], round(res.lat))
			if r.answered == len(plan) {
				return r
			}
		case <-time.After(watchdog):
			r.stuck = true
			fmt.Printf("  request %2d [%c]: STUCK in RecvMessage: no progress for %v, cut off by the watchdog\n",
				r.sent, plan[r.sent-1], watchdog)
			fmt.Println("  (the REQ socket can neither receive nor send again: its next Send fails with EFSM)")
			fmt.Println()
			return r
		}
	}
}

// reqTrace collects one request's events from the client's hook.
type reqTrace struct {
	attempts, resets int
	fails            []string
}

// runGuard runs reliable.Client in the given mode against the schedule.
func runGuard(plan string, mode reliable.Mode) row {
	fmt.Printf("== zmqguard reliable.Client, %v mode, same server schedule\n", mode)
	srv := startServer(plan)
	defer srv.stop()
	r := row{name: "zmqguard " + mode.String()}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	var mu sync.Mutex
	traces := map[uint64]*reqTrace{}
	stale := 0
	trace := func(seq uint64) *reqTrace {
		if traces[seq] == nil {
			traces[seq] = &reqTrace{}
		}
		return traces[seq]
	}
	hook := func(e reliable.ClientEvent) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case reliable.EventAttempt:
			trace(e.Seq).attempts++
		case reliable.EventAttemptFailed:
			t := trace(e.Seq)
			t.fails = append(t.fails, fmt.Sprintf("#%d %s", e.Attempt, reason(e.Err)))
		case reliable.EventReset:
			trace(e.Seq).resets++
		case reliable.EventStale:
			stale++
			fmt.Printf("      ~ stale reply to request %d attempt %d arrived late: dropped\n", e.Seq, e.Attempt)
		}
	}
	c, err := reliable.NewClient(zctx, []string{srv.ep}, reliable.WithMode(mode),
		reliable.WithAttemptTimeout(attemptTimeout), reliable.WithMaxAttempts(maxAttempts),
		reliable.WithBackoff(backoffPolicy), reliable.WithEventHook(hook))
	check(err)
	defer c.Close()

	for i := 1; i <= len(plan); i++ {
		body := fmt.Sprintf("req-%d", i)
		start := time.Now()
		rep, err := c.Request(context.Background(), []byte(body))
		lat := time.Since(start)
		r.sent++
		mu.Lock()
		t := trace(uint64(i))
		mu.Unlock()
		outcome := ""
		switch {
		case err != nil && errors.Is(err, reliable.ErrNoReply):
			r.gaveUp++
			outcome = fmt.Sprintf("GAVE UP after %v", round(lat))
			if nr := (*reliable.NoReplyError)(nil); errors.As(err, &nr) && errors.Is(nr.Last, reliable.ErrNotConnected) {
				outcome += " (no server came back within the budget)"
			}
		case err != nil:
			check(err)
		case len(rep) != 1 || string(rep[0]) != body:
			check(fmt.Errorf("request %d: wrong reply %q", i, rep))
		default:
			r.answered++
			r.latencies = append(r.latencies, lat)
			outcome = fmt.Sprintf("answered in %v", round(lat))
			if d, ok := srv.recovered(); ok {
				r.recoveries = append(r.recoveries, d)
				outcome += fmt.Sprintf(" (recovered %v after the crash)", round(d))
			}
		}
		detail := ""
		if len(t.fails) > 0 {
			detail = "; failed: " + strings.Join(t.fails, ", ")
		}
		fmt.Printf("  request %2d [%c]: %s; attempts %d, resets %d%s\n", i, plan[i-1], outcome, t.attempts, t.resets, detail)
	}
	// Give a late reply still in flight the time to arrive and be dropped.
	time.Sleep(lateDelay - attemptTimeout + 50*time.Millisecond)
	st := c.Stats()
	r.attempts, r.reset, r.stale = int(st.Attempts), int(st.Resets), int(st.StaleDropped)
	fmt.Println()
	return r
}

// reason names why an attempt failed, briefly.
func reason(err error) string {
	switch {
	case errors.Is(err, reliable.ErrPeerGone):
		return "peer gone"
	case errors.Is(err, reliable.ErrNotConnected):
		return "not connected"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	}
	return err.Error()
}

// ---------------------------------------------------------------- summary

func printSummary(plan string, rows []row) {
	fmt.Printf("== summary: %d requests per client against schedule %s\n", len(plan), plan)
	fmt.Printf("  %-22s %5s %9s %8s %9s %7s %6s %8s %8s  %s\n",
		"client", "sent", "answered", "gave up", "attempts", "resets", "stale", "p50", "p99", "recovery after crash")
	for _, r := range rows {
		rec := "-"
		if len(r.recoveries) > 0 {
			var s []string
			for _, d := range r.recoveries {
				s = append(s, round(d).String())
			}
			rec = strings.Join(s, ", ")
		}
		if r.stuck {
			rec = "never: STUCK"
		}
		fmt.Printf("  %-22s %5d %9d %8d %9d %7d %6d %8v %8v  %s\n", r.name, r.sent, r.answered, r.gaveUp,
			r.attempts, r.reset, r.stale, round(percentile(r.latencies, 50)), round(percentile(r.latencies, 99)), rec)
	}
	for _, r := range rows {
		switch {
		case r.stuck:
			fmt.Printf("%s: STUCK after %d of %d requests, cut off by a %v watchdog\n", r.name, r.answered, len(plan), watchdog)
		default:
			fmt.Printf("%s: completed: %d answered, %d gave up, no request hung\n", r.name, r.answered, r.gaveUp)
		}
	}
}

// percentile returns the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)]
}

func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
