// Command paranoid demonstrates the Paranoid Pirate pattern (zguide
// chapter 4, ZeroMQ RFC 6) with zmqguard: a ppp.Queue, three
// ppp.Workers running as child processes of this program, and a
// reliable.Client sending requests through the queue's frontend.
//
// Mid-run one worker is killed with SIGKILL and another is frozen with
// SIGSTOP, each while it holds a request; the frozen one is later resumed
// with SIGCONT. The program prints the liveness events of the queue's
// tracker (alive, suspect, dead) as they happen, what the queue does about
// them (the lost request is given to another worker), the outcome of every
// request, and a summary. The killed worker's connection closes with it,
// so the queue forgets it at once (a heartbeat to it is refused); the
// frozen one keeps its connection, and only its silence tells: the tracker
// declares it dead after liveness × interval. Run it with `(cd examples && go run ./paranoid)`; it
// finishes by itself in a few seconds.
//
// To make the faults land while a worker holds a request, whatever the
// machine's load, each worker's handler tells this program which request it
// started and waits for a go-ahead on its stdin before doing the work: the
// program sends the go-ahead, or the signal instead.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// Heartbeats: a peer silent for liveness×interval (600 ms) is dead. Queue
// and workers must agree.
const (
	interval = 200 * time.Millisecond
	liveness = 3
)

// The run.
const (
	requests       = 16
	work           = 50 * time.Millisecond // each request's handler time
	killAt         = 4                     // from this request, the next one w2 takes is SIGKILLed
	stopAt         = 8                     // from this request, the next one w3 takes is SIGSTOPped
	contAfter      = 11                    // after this request, w3 gets SIGCONT
	attemptTimeout = 5 * time.Second       // the client's: covers death detection and the queue's retry
	waitLimit      = 10 * time.Second      // bound on every wait for a liveness event
)

var workerNames = []string{"w1", "w2", "w3"}

// Environment of the worker child processes.
const (
	envWorker  = "PARANOID_WORKER"  // the worker's name; set only in a child
	envBackend = "PARANOID_BACKEND" // the queue's backend endpoint
)

func main() {
	if name := os.Getenv(envWorker); name != "" {
		runWorker(name, os.Getenv(envBackend))
		return
	}
	os.Exit(runDemo())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "paranoid:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- worker

// runWorker is a child process: a ppp.Worker named name. Its handler prints
// "SERVING <request>" and waits for a line on stdin before working; the
// process exits when its stdin closes (the parent is done or gone).
func runWorker(name, backend string) {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	goAhead := make(chan struct{}, 64)
	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			goAhead <- struct{}{}
		}
		os.Exit(0)
	}()

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	handler := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if len(req) != 1 {
			return nil, errors.New("want one frame")
		}
		say("SERVING %s", req[0])
		select {
		case <-goAhead:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		time.Sleep(work)
		return [][]byte{[]byte(name), req[0]}, nil
	}
	hook := func(e ppp.WorkerEvent) {
		switch e.Kind {
		case ppp.WorkerConnected:
			say("EVENT connected to the queue, sent READY")
		case ppp.WorkerQueueLost:
			say("EVENT queue silent for %v: closing the connection", liveness*interval)
		case ppp.WorkerReconnectWait:
			say("EVENT reconnecting in %v", e.Delay)
		}
	}
	w, err := ppp.NewWorker(zctx, backend, handler,
		ppp.WithWorkerHeartbeat(interval, liveness),
		ppp.WithWorkerBackoff(reliable.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2}),
		// A readable identity: the queue's tracker knows the worker as "w1".
		ppp.WithWorkerSocketSetup(func(s *zmq.Socket) error { return s.SetIdentity(name) }),
		ppp.WithWorkerEventHook(hook))
	check(err)
	check(w.Run(context.Background()))
}

// ---------------------------------------------------------------- parent

// out prints timestamped lines, from any goroutine.
type out struct {
	mu     sync.Mutex
	start  time.Time
	silent bool // set before the summary: what shutdown causes is not news
}

func (o *out) printf(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.silent {
		return
	}
	fmt.Printf("[%5.2fs] "+format+"\n", append([]any{time.Since(o.start).Seconds()}, args...)...)
}

// fault is what to do to a worker when it takes its next request.
type fault int

const (
	none fault = iota
	kill
	stop
)

// child is a worker process.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed once the process has been waited for
}

// demo is the parent's state.
type demo struct {
	o *out

	mu       sync.Mutex
	armed    map[string]fault  // worker -> fault for its next request
	victims  map[string]string // request -> "w2 was SIGKILLed holding it"
	connects map[string]int    // worker -> connections it reported
	events   []heartbeat.Event // the queue tracker's events so far
	changed  chan struct{}     // signalled after each event
}

func runDemo() int {
	d := &demo{
		o:        &out{start: time.Now()},
		armed:    map[string]fault{},
		victims:  map[string]string{},
		connects: map[string]int{},
		changed:  make(chan struct{}, 1),
	}
	o := d.o
	fmt.Printf("Paranoid Pirate: queue + 3 worker processes, heartbeat %v, liveness %d (dead after %v of silence)\n",
		interval, liveness, liveness*interval)
	fmt.Printf("plan: %d requests; w2 is SIGKILLed holding a request from #%d, w3 SIGSTOPped holding one from #%d and resumed after #%d\n\n",
		requests, killAt, stopAt, contAfter)

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
		ppp.WithQueueHeartbeat(interval, liveness),
		ppp.WithQueueRetries(1),
		ppp.WithQueueEventHook(func(e ppp.QueueEvent) {
			switch e.Kind {
			case ppp.QueueWorkerJoined:
				o.printf("queue: %s joined", e.Worker)
			case ppp.QueueWorkerExpired:
				o.printf("queue: %s expired and forgotten", e.Worker)
			case ppp.QueueRequestRetried:
				o.printf("queue: %s died holding a request: giving it to another worker", e.Worker)
			case ppp.QueueRequestFailed:
				o.printf("queue: %s died holding a request: out of retries, answering worker-lost", e.Worker)
			}
		}))
	check(err)
	defer q.Close()
	// The liveness events, as they happen.
	remove := q.Tracker().OnChange(func(e heartbeat.Event) {
		if e.To == heartbeat.Unknown {
			o.printf("liveness: %s (forgotten by the queue)", e)
		} else {
			o.printf("liveness: %s", e) // "w2: suspect -> dead"
		}
		d.mu.Lock()
		d.events = append(d.events, e)
		d.mu.Unlock()
		select {
		case d.changed <- struct{}{}:
		default:
		}
	})
	defer remove()

	ctx, cancel := context.WithCancel(context.Background())
	qdone := make(chan error, 1)
	go func() { qdone <- q.Run(ctx) }()
	defer func() {
		cancel()
		<-qdone
	}()

	children := map[string]*child{}
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	for _, name := range workerNames {
		since := d.mark()
		c, err := d.spawn(name, q.Backend())
		check(err)
		children[name] = c
		if !d.waitFor(name, heartbeat.Alive, since) {
			o.printf("FAILED: %s did not become alive within %v", name, waitLimit)
			return 1
		}
	}
	fmt.Println()

	cl, err := reliable.NewClient(zctx, []string{q.Frontend()},
		reliable.WithAttemptTimeout(attemptTimeout), reliable.WithMaxAttempts(2))
	check(err)
	defer cl.Close()

	answered, failed := 0, 0
	by := map[string]int{}
	for i := 1; i <= requests; i++ {
		switch i {
		case killAt:
			d.arm("w2", kill)
			o.printf("armed: w2 gets SIGKILL when it takes its next request")
		case stopAt:
			d.arm("w3", stop)
			o.printf("armed: w3 gets SIGSTOP when it takes its next request")
		}
		body := fmt.Sprintf("req-%d", i)
		since := d.mark()
		start := time.Now()
		rep, err := cl.Request(context.Background(), []byte(body))
		lat := time.Since(start).Round(time.Millisecond)
		d.mu.Lock()
		victim := d.victims[body]
		d.mu.Unlock()
		if victim != "" {
			// The queue retried it only after forgetting the worker;
			// let that event print first.
			d.waitFor(strings.Fields(victim)[0], heartbeat.Unknown, since)
		}
		var rerr *reliable.RemoteError
		switch {
		case errors.As(err, &rerr):
			failed++
			o.printf("request %2d: FAILED in %v: error reply %q: %s", i, lat, rerr.Code, rerr.Message)
		case err != nil:
			failed++
			o.printf("request %2d: FAILED in %v: %v", i, lat, err)
		case len(rep) != 2 || string(rep[1]) != body:
			failed++
			o.printf("request %2d: FAILED: wrong reply %q", i, rep)
		default:
			answered++
			by[string(rep[0])]++
			note := ""
			if victim != "" {
				note = fmt.Sprintf(" (its first worker %s; the queue retried it)", victim)
			}
			o.printf("request %2d: answered by %s in %v%s", i, rep[0], lat, note)
		}
		if i == contAfter {
			d.resume(children["w3"], q)
		}
	}

	st := q.Stats()
	// A worker the queue forgot died: it fell silent (the tracker said
	// dead first) or its connection closed.
	d.mu.Lock()
	var dead []string
	silent := map[string]bool{}
	for _, e := range d.events {
		switch e.To {
		case heartbeat.Dead:
			silent[e.Peer] = true
		case heartbeat.Unknown:
			how := "connection closed"
			if silent[e.Peer] {
				how = "silent"
			}
			dead = append(dead, e.Peer+": "+how)
			delete(silent, e.Peer)
		}
	}
	d.mu.Unlock()
	alive := []string{}
	for peer, s := range q.Tracker().Snapshot() {
		if s == heartbeat.Alive || s == heartbeat.Suspect {
			alive = append(alive, peer)
		}
	}
	slices.Sort(alive)
	var served []string
	for _, name := range workerNames {
		served = append(served, fmt.Sprintf("%s %d", name, by[name]))
	}

	o.mu.Lock()
	o.silent = true
	o.mu.Unlock()
	fmt.Println()
	fmt.Println("== summary")
	fmt.Printf("  requests answered        %d of %d\n", answered, requests)
	fmt.Printf("  requests failed          %d\n", failed)
	fmt.Printf("  worker deaths detected   %d (%s)\n", len(dead), strings.Join(dead, ", "))
	fmt.Printf("  requests retried         %d (by the queue, on another worker)\n", st.Retried)
	fmt.Printf("  stale replies dropped    %d\n", st.Stale)
	fmt.Printf("  answers per worker       %s\n", strings.Join(served, ", "))
	fmt.Printf("  workers alive at the end %s\n", strings.Join(alive, ", "))
	if failed > 0 {
		return 1
	}
	return 0
}

// resume sends SIGCONT to the frozen worker c and lets the handler it was
// frozen in finish. It waits until the queue has heard from c again and
// c's late reply has been dealt with, before the client sends more: the
// queue pairs a reply with the request its worker holds, so a late reply
// arriving after c was given a new request would be taken for that one's.
func (d *demo) resume(c *child, q *ppp.Queue) {
	since, stale, connects := d.mark(), q.Stats().Stale, d.connected(c.name)
	d.o.printf("SIGCONT %s", c.name)
	check(c.cmd.Process.Signal(syscall.SIGCONT))
	_, _ = io.WriteString(c.stdin, "GO\n")
	if d.waitFor(c.name, heartbeat.Alive, since) {
		d.o.printf("%s is back", c.name)
	} else {
		d.o.printf("%s did not come back within %v", c.name, waitLimit)
	}
	limit := time.Now().Add(waitLimit)
	for time.Now().Before(limit) {
		switch {
		case q.Stats().Stale > stale:
			d.o.printf("queue: dropped %s's late reply (stale: another worker answered that request)", c.name)
			return
		case d.connected(c.name) > connects:
			d.o.printf("%s reconnected: it drops the late reply itself", c.name)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.o.printf("%s's late reply not seen within %v", c.name, waitLimit)
}

// connected returns how many times worker name said it connected.
func (d *demo) connected(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connects[name]
}

// mark returns the index of the next liveness event.
func (d *demo) mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.events)
}

// waitFor waits up to waitLimit for an event from index since on taking
// peer to state to; it reports whether it came.
func (d *demo) waitFor(peer string, to heartbeat.State, since int) bool {
	limit := time.After(waitLimit)
	for {
		d.mu.Lock()
		for _, e := range d.events[since:] {
			if e.Peer == peer && e.To == to {
				d.mu.Unlock()
				return true
			}
		}
		d.mu.Unlock()
		select {
		case <-d.changed:
		case <-limit:
			return false
		}
	}
}

func (d *demo) arm(name string, f fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed[name] = f
}

// spawn starts the worker process name and relays what it says.
func (d *demo) spawn(name, backend string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envWorker+"="+name, envBackend+"="+backend)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d.o.printf("started worker %s (pid %d)", name, cmd.Process.Pid)
	c := &child{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			d.heard(c, lines.Text())
		}
		_ = cmd.Wait()
	}()
	return c, nil
}

// heard handles a line from worker c: a request it took, or an event.
func (d *demo) heard(c *child, line string) {
	if ev, ok := strings.CutPrefix(line, "EVENT "); ok {
		if strings.HasPrefix(ev, "connected") {
			d.mu.Lock()
			d.connects[c.name]++
			d.mu.Unlock()
		}
		d.o.printf("%s says: %s", c.name, ev)
		return
	}
	req, ok := strings.CutPrefix(line, "SERVING ")
	if !ok {
		d.o.printf("%s: %s", c.name, line)
		return
	}
	d.mu.Lock()
	f := d.armed[c.name]
	delete(d.armed, c.name)
	switch f {
	case kill:
		d.victims[req] = c.name + " was SIGKILLed holding it"
	case stop:
		d.victims[req] = c.name + " was SIGSTOPped holding it"
	}
	d.mu.Unlock()
	switch f {
	case kill:
		d.o.printf("%s took %s: SIGKILL", c.name, req)
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
	case stop:
		d.o.printf("%s took %s: SIGSTOP", c.name, req)
		_ = c.cmd.Process.Signal(syscall.SIGSTOP)
	default:
		_, _ = io.WriteString(c.stdin, "GO\n")
	}
}

// stop ends the worker process: closing its stdin makes it exit; SIGKILL
// if it does not within a second.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGCONT)
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
	}
}
