// Command majordomo demonstrates Majordomo with Binary Star (zguide
// chapter 4, ZeroMQ RFC 7; docs/MAJORDOMO.md and docs/BINARY-STAR.md): two
// mdp.Brokers forming a Binary Star pair, two mdp.Workers for the service
// "echo" registered with both, all child processes of this program, and an
// mdp.Client that knows both brokers.
//
// Mid-run a worker is killed with SIGKILL while it holds a request (the
// broker gives the request to the other worker), then the active broker
// is killed while a worker holds a request (the client retries on the
// backup, which takes over; the request runs twice, because Binary Star
// replicates nothing), and the killed broker is restarted (it comes back
// passive). The program prints the pair's state changes as the brokers
// report them, the outcome of every request and a summary. Run it with
// `make demo-majordomo` or `(cd examples && go run ./majordomo)`; it
// finishes by itself in a few seconds.
//
// To make the faults land while a worker holds a request, whatever the
// machine's load, each worker says which request it took and waits for a
// go-ahead on its stdin before answering: the program sends the go-ahead,
// or the signal instead.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/zmq"
)

// Heartbeats: brokers and workers declare each other dead after
// liveness×interval (600 ms); a broker of the pair is silent to its peer
// after two state heartbeats (400 ms).
const (
	interval     = 200 * time.Millisecond
	liveness     = 3
	pairInterval = 200 * time.Millisecond
)

// The run.
const (
	requests       = 12
	killWorkerAt   = 3 // from this request, the next one w2 takes is SIGKILLed
	killBrokerAt   = 7 // this request's worker takes it: the active broker is SIGKILLed
	restartAfter   = 9 // after this request, the killed broker is restarted
	attemptTimeout = time.Second
	waitLimit      = 10 * time.Second
)

// Environment of the child processes.
const (
	envRole = "MAJORDOMO_ROLE" // "primary", "backup" or a worker's name; set only in a child
	envEnds = "MAJORDOMO_ENDS" // brokers: frontend,state,peer state; workers: the frontends
)

func main() {
	switch role := os.Getenv(envRole); {
	case role == "primary" || role == "backup":
		runBroker(role, strings.Split(os.Getenv(envEnds), ","))
		return
	case role != "":
		runWorker(role, strings.Split(os.Getenv(envEnds), ","))
		return
	}
	os.Exit(runDemo())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "majordomo:", err)
		os.Exit(1)
	}
}

// say prints one line, from any goroutine of a child.
var sayMu sync.Mutex

func say(format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// ---------------------------------------------------------------- children

// runBroker is a child process: one broker of the pair. It prints its
// state changes and exits when its stdin closes.
func runBroker(role string, ends []string) {
	go exitOnEOF()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	r := bstar.Primary
	if role == "backup" {
		r = bstar.Backup
	}
	p, err := bstar.New(zctx, r, ends[1], ends[2], bstar.WithHeartbeat(pairInterval, bstar.DefaultLiveness),
		bstar.WithEventHook(func(ev bstar.Event) { say("STATE %v", ev) }))
	check(err)
	b, err := mdp.NewBroker(zctx, ends[0], mdp.WithBrokerHeartbeat(interval, liveness), mdp.WithBinaryStar(p),
		mdp.WithBrokerEventHook(func(ev mdp.BrokerEvent) {
			switch ev.Kind {
			case mdp.BrokerRequestRetried:
				say("EVENT a worker died holding a request: giving it to another worker")
			case mdp.BrokerWorkerExpired:
				say("EVENT a worker was silent for %v: forgotten", liveness*interval)
			case mdp.BrokerWorkerJoined:
				say("JOINED %x", ev.Worker)
			}
		}))
	check(err)
	say("READY")
	check(b.Run(context.Background()))
}

// runWorker is a child process: a worker for "echo" registered with both
// brokers. Its handler prints "TOOK <request>" and waits for a line on
// stdin before answering "<name>: <request>"; the process exits when its
// stdin closes.
func runWorker(name string, brokers []string) {
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
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		say("TOOK %s", req[0])
		select {
		case <-goAhead:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return [][]byte{[]byte(name + ": " + string(req[0]))}, nil
	}
	w, err := mdp.NewWorker(zctx, brokers, "echo", h, mdp.WithWorkerHeartbeat(interval, liveness),
		mdp.WithWorkerBackoff(reliable.Backoff{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond}))
	check(err)
	say("READY")
	check(w.Run(context.Background()))
}

func exitOnEOF() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// ---------------------------------------------------------------- parent

// proc is a child process with its stdin (closing it ends the child).
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan struct{}
	done   chan struct{}
	states chan string // a broker's pair states, as it reports them
	joined chan string // the workers that joined a broker (first 16)
}

// took is a worker's report that it holds a request.
type took struct {
	worker *proc
	body   string
}

type demo struct {
	start  time.Time
	took   chan took
	silent atomic.Bool // set before the summary: what shutdown causes is not news

	mu         sync.Mutex // guards what the client's event hook writes
	lastBroker string     // the broker of the last reply
	attempts   int        // the last attempt's number
}

// broker returns the broker of the last reply.
func (d *demo) broker() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastBroker
}

func (d *demo) printf(format string, args ...any) {
	if d.silent.Load() {
		return
	}
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Printf("[%5.2fs] "+format+"\n", append([]any{time.Since(d.start).Seconds()}, args...)...)
}

// spawn starts a child with role and endpoints and waits for its READY;
// its other lines are printed (STATE, EVENT) or reported (TOOK).
func (d *demo) spawn(role string, ends []string) *proc {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envRole+"="+role, envEnds+"="+strings.Join(ends, ","))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	p := &proc{name: role, cmd: cmd, stdin: stdin, ready: make(chan struct{}), done: make(chan struct{}),
		states: make(chan string, 16), joined: make(chan string, 16)}
	go func() {
		defer close(p.done)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			kind, rest, _ := strings.Cut(lines.Text(), " ")
			switch kind {
			case "READY":
				close(p.ready)
			case "TOOK":
				d.took <- took{worker: p, body: rest}
			case "STATE":
				d.printf("%s broker: pair %s", role, rest)
				from, _, _ := strings.Cut(rest, " on ")
				_, to, _ := strings.Cut(from, " -> ")
				p.states <- to
			case "EVENT":
				d.printf("%s broker: %s", role, rest)
			case "JOINED":
				select {
				case p.joined <- rest:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-p.ready:
	case <-time.After(waitLimit):
		check(fmt.Errorf("%s not ready within %v", role, waitLimit))
	}
	return p
}

// kill sends SIGKILL and waits for the child to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop ends a child by closing its stdin.
func (p *proc) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		p.kill()
	}
}

func (p *proc) goAhead() { _, _ = io.WriteString(p.stdin, "go\n") }

// awaitWorkers waits until n different workers joined a broker.
func (p *proc) awaitWorkers(n int) {
	timeout := time.After(waitLimit)
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case w := <-p.joined:
			seen[w] = true
		case <-timeout:
			check(fmt.Errorf("%d workers not joined to the %s broker within %v", n, p.name, waitLimit))
		}
	}
}

// await waits until a broker reports the pair state want.
func (p *proc) await(want string) {
	timeout := time.After(waitLimit)
	for {
		select {
		case s := <-p.states:
			if s == want {
				return
			}
		case <-timeout:
			check(fmt.Errorf("%s broker not %s within %v", p.name, want, waitLimit))
		}
	}
}

func freePorts(n int) []string {
	var eps []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		eps = append(eps, "tcp://"+l.Addr().String())
		l.Close()
	}
	return eps
}

func runDemo() int {
	d := &demo{start: time.Now(), took: make(chan took, 64)}
	eps := freePorts(4)
	frontends := []string{eps[0], eps[1]}
	ends := map[string][]string{"primary": {eps[0], eps[2], eps[3]}, "backup": {eps[1], eps[3], eps[2]}}
	names := map[string]string{eps[0]: "primary", eps[1]: "backup"}
	fmt.Printf("Majordomo + Binary Star: a primary and a backup broker, workers w1 and w2 registered with both, one client\n")
	fmt.Printf("heartbeat %v × %d with workers; the pair's peer is silent after %v\n", interval, liveness, 2*pairInterval)
	fmt.Printf("plan: %d requests; w2 is SIGKILLed holding a request from #%d; the active broker is SIGKILLed while #%d is held, restarted after #%d\n",
		requests, killWorkerAt, killBrokerAt, restartAfter)

	brokers := map[string]*proc{}
	workers := map[string]*proc{}
	defer func() {
		for _, p := range workers {
			p.stop()
		}
		for _, p := range brokers {
			p.stop()
		}
	}()
	for _, role := range []string{"primary", "backup"} {
		brokers[role] = d.spawn(role, ends[role])
	}
	brokers["primary"].await("active")
	brokers["backup"].await("passive")
	for _, name := range []string{"w1", "w2"} {
		workers[name] = d.spawn(name, frontends)
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()
	c, err := mdp.NewClient(zctx, frontends, mdp.WithAttemptTimeout(attemptTimeout), mdp.WithMaxAttempts(4),
		mdp.WithBackoff(reliable.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond}),
		mdp.WithClientEventHook(func(ev reliable.ClientEvent) {
			d.mu.Lock()
			defer d.mu.Unlock()
			switch ev.Kind {
			case reliable.EventAttempt:
				d.attempts = ev.Attempt
			case reliable.EventReply:
				d.lastBroker = names[ev.Endpoint]
			case reliable.EventAttemptFailed:
				d.printf("client: attempt %d at the %s broker failed: %v", ev.Attempt, names[ev.Endpoint], ev.Err)
			}
		}))
	check(err)
	defer c.Close()
	// Wait until both workers are registered with the active broker (the
	// plan needs w2 to take a request there), and the client sees them.
	brokers["primary"].awaitWorkers(2)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	for ok := false; !ok; {
		ok, err = c.ServiceAvailable(ctx, "echo")
		check(err)
	}
	cancel()
	fmt.Println()

	answered, failed := 0, 0
	runs := map[string]int{}
	var killedWorker, killedBroker, duplicate string
	armWorker := false
	for i := 1; i <= requests; i++ {
		if i == killWorkerAt {
			armWorker = true
		}
		body := fmt.Sprintf("req-%d", i)
		type result struct {
			reply [][]byte
			err   error
		}
		res := make(chan result, 1)
		start := time.Now()
		go func() {
			rep, err := c.Request(context.Background(), "echo", []byte(body))
			res <- result{rep, err}
		}()
		var note string
	wait:
		for {
			select {
			case t := <-d.took:
				runs[t.body]++
				switch {
				case armWorker && t.worker.name == "w2":
					armWorker = false
					killedWorker = t.body
					d.printf("w2 took %s: SIGKILL", t.body)
					t.worker.kill()
					note = " (its first worker w2 was SIGKILLed holding it; the broker gave it to w1)"
					workers["w2"] = d.spawn("w2", frontends)
					d.printf("w2 restarted")
				case i == killBrokerAt && killedBroker == "":
					killedBroker = d.broker()
					d.printf("%s took %s: SIGKILL the active broker (%s)", t.worker.name, t.body, killedBroker)
					brokers[killedBroker].kill()
					t.worker.goAhead() // its reply goes to a dead broker
					note = fmt.Sprintf(" (the %s broker died while %s held it; the client retried on the other broker)", killedBroker, t.worker.name)
				default:
					t.worker.goAhead()
				}
			case r := <-res:
				lat := time.Since(start).Round(time.Millisecond)
				var re *reliable.RemoteError
				switch {
				case errors.As(r.err, &re):
					failed++
					d.printf("request %2d: FAILED in %v: error reply %q: %s", i, lat, re.Code, re.Message)
				case r.err != nil:
					failed++
					d.printf("request %2d: FAILED in %v: %v", i, lat, r.err)
				case len(r.reply) != 1 || !strings.HasSuffix(string(r.reply[0]), ": "+body):
					failed++
					d.printf("request %2d: WRONG reply %q", i, r.reply)
				default:
					answered++
					worker, _, _ := strings.Cut(string(r.reply[0]), ":")
					d.mu.Lock()
					d.printf("request %2d: answered by %s via the %s broker in %v, attempt %d%s",
						i, worker, d.lastBroker, lat, d.attempts, note)
					d.mu.Unlock()
				}
				break wait
			}
		}
		if runs[body] > 1 && killedBroker != "" && duplicate == "" && i == killBrokerAt {
			duplicate = body
			d.printf("%s ran twice: once for the dead %s broker, once for the other (Binary Star replicates nothing)", body, killedBroker)
		}
		if i == restartAfter && killedBroker != "" {
			brokers[killedBroker] = d.spawn(killedBroker, ends[killedBroker])
			d.printf("%s broker restarted", killedBroker)
			brokers[killedBroker].await("passive") // it heard its peer is active
		}
	}
	executions := 0
	for _, n := range runs {
		executions += n
	}
	d.silent.Store(true)
	fmt.Println("\n== summary")
	fmt.Printf("requests answered        %d of %d\n", answered, requests)
	fmt.Printf("requests failed          %d\n", failed)
	fmt.Printf("worker killed            w2, holding %s (answered by the other worker)\n", killedWorker)
	fmt.Printf("broker killed            %s, while %s was held (the other broker took over)\n", killedBroker, duplicate)
	fmt.Printf("executions               %d for %d requests (the killed worker's and the killed broker's requests ran twice)\n", executions, requests)
	fmt.Printf("active broker at the end %s\n", d.broker())
	if failed > 0 {
		return 1
	}
	return 0
}
