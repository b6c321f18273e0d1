// Command durable-demo shows what a persistent reply store changes when a
// server dies: a reliable.Client keeps 16 requests in flight to a server
// (a child process of this program) that is SIGKILLed and restarted at
// random points, first with the reply cache in memory only, then with the
// bbolt reply store (contrib/bbolt) and outcome-unknown replies. The
// handler appends each execution to a file with O_APPEND and fsync; at
// the end the demo counts the requests that ran twice.
//
// Run it with `make demo-durable` or `(cd contrib/bbolt && go run
// ./cmd/durable-demo)`; -requests, -kills and -seed change the run.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

const serverEnv = "DURABLE_DEMO_SERVER" // endpoint|exec log|store ("" for memory)

func main() {
	if spec := os.Getenv(serverEnv); spec != "" {
		if err := server(strings.Split(spec, "|")); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		return
	}
	requests := flag.Int("requests", 600, "requests in each run")
	kills := flag.Int("kills", 3, "server SIGKILLs in each run")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the kill points")
	flag.Parse()
	if *requests < 10 || *kills < 0 {
		fmt.Fprintln(os.Stderr, "durable-demo: want -requests >= 10 and -kills >= 0")
		os.Exit(64)
	}
	fmt.Printf("%d requests, 16 in flight, the server SIGKILLed %d times at random points (seed %d)\n\n", *requests, *kills, *seed)
	for _, store := range []bool{false, true} {
		r, err := demo(*requests, *kills, rand.New(rand.NewPCG(*seed, 1)), store)
		if err != nil {
			fmt.Fprintln(os.Stderr, "durable-demo:", err)
			os.Exit(1)
		}
		fmt.Println(r)
	}
}

// server serves until killed: an echo handler that logs each execution.
func server(spec []string) error {
	endpoint, logPath, storePath := spec[0], spec[1], spec[2]
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	var opts []reliable.ServerOption
	if storePath != "" {
		st, err := zgbolt.OpenReplyStore(storePath)
		if err != nil {
			return err
		}
		opts = append(opts, reliable.WithReplyStore(st), reliable.WithOutcomeUnknownReplies())
	}
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if _, err := log.Write(append(append([]byte{}, req[0]...), '\n')); err != nil {
			return nil, err
		}
		if err := log.Sync(); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Millisecond) // the work: kills land in handlers too
		return req, nil
	}
	srv, err := reliable.Listen(zctx, endpoint, h, opts...)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	return srv.Serve(context.Background())
}

type result struct {
	store                   bool
	requests, kills         int
	twice, unknown, noReply []string
	elapsed                 time.Duration
}

func (r result) String() string {
	name := "reply cache in memory"
	if r.store {
		name = "bbolt reply store    "
	}
	s := fmt.Sprintf("%s: %d requests, %d server kills, %v: %d ran twice", name, r.requests, r.kills, r.elapsed.Round(time.Millisecond), len(r.twice))
	if len(r.twice) > 0 {
		s += " " + list(r.twice)
	}
	if r.store {
		s += fmt.Sprintf("; %d answered outcome-unknown (they ran once or never, and the client was told) %s", len(r.unknown), list(r.unknown))
	}
	if len(r.noReply) > 0 {
		s += fmt.Sprintf("; %d without a reply %s", len(r.noReply), list(r.noReply))
	}
	return s
}

func list(ids []string) string {
	slices.Sort(ids)
	if len(ids) > 8 {
		return "(" + strings.Join(ids[:8], " ") + " ...)"
	}
	return "(" + strings.Join(ids, " ") + ")"
}

// child is a running server process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startServer(spec string) (*child, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serverEnv+"="+spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "READY"
		for sc.Scan() {
		}
		cmd.Wait()
		close(c.done)
	}()
	select {
	case ok := <-ready:
		if ok {
			return c, nil
		}
	case <-time.After(10 * time.Second):
	}
	c.kill()
	return nil, errors.New("the server did not start")
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func demo(requests, kills int, rng *rand.Rand, store bool) (result, error) {
	r := result{store: store, requests: requests, kills: kills}
	dir, err := os.MkdirTemp("", "durable-demo-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	endpoint := "ipc://" + filepath.Join(dir, "s.sock")
	logPath := filepath.Join(dir, "execs.log")
	storePath := ""
	if store {
		storePath = filepath.Join(dir, "replies.db")
	}
	spec := endpoint + "|" + logPath + "|" + storePath
	srv, err := startServer(spec)
	if err != nil {
		return r, err
	}
	defer func() { srv.kill() }()

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return r, err
	}
	defer zctx.Term()
	c, err := reliable.NewClient(zctx, []string{endpoint}, reliable.WithAttemptTimeout(time.Second),
		reliable.WithMaxAttempts(10), reliable.WithReconnectInterval(20*time.Millisecond))
	if err != nil {
		return r, err
	}
	defer c.Close()

	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(requests); i = next.Add(1) {
				id := fmt.Sprintf("job-%d", i)
				reply, err := c.Request(context.Background(), []byte(id))
				mu.Lock()
				switch {
				case errors.Is(err, reliable.ErrOutcomeUnknown):
					r.unknown = append(r.unknown, id)
				case err != nil || string(reply[0]) != id:
					r.noReply = append(r.noReply, id)
				}
				mu.Unlock()
			}
		}()
	}
	// Kill at random counts of executions, in order.
	var at []int
	for range kills {
		at = append(at, requests/10+rng.IntN(requests*8/10))
	}
	slices.Sort(at)
	for _, n := range at {
		for executions(logPath) < n {
			time.Sleep(2 * time.Millisecond)
		}
		srv.kill()
		if srv, err = startServer(spec); err != nil {
			return r, err
		}
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	count := map[string]int{}
	b, err := os.ReadFile(logPath)
	if err != nil {
		return r, err
	}
	for _, id := range strings.Fields(string(b)) {
		if count[id]++; count[id] == 2 {
			r.twice = append(r.twice, id)
		}
	}
	return r, nil
}

func executions(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}
