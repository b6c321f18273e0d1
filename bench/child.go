package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/zmq"
)

// The bench binary (or the test binary) re-executes itself for the rows
// that need a server process to kill, or a fresh process to count threads
// in. MaybeChild must be called first in main and in TestMain.
const envChild = "ZGBENCH_CHILD"

// MaybeChild runs a child mode and exits when the process was started as a
// child; otherwise it returns at once.
func MaybeChild() {
	switch os.Getenv(envChild) {
	case "":
		return
	case "echo":
		fmt.Fprintln(os.Stderr, "zgbench echo child:", runEchoChild(os.Getenv("ZG_BIND")))
		os.Exit(2)
	case "echo-pebbe":
		fmt.Fprintln(os.Stderr, "zgbench pebbe echo child:", runPebbeEchoChild(os.Getenv("ZG_BIND")))
		os.Exit(2)
	case "mdbroker":
		fmt.Fprintln(os.Stderr, "zgbench mdp broker child:", runMDBrokerChild(os.Getenv("ZG_BIND")))
		os.Exit(2)
	case "mdbroker-pebbe":
		fmt.Fprintln(os.Stderr, "zgbench pebbe mdp broker child:", runPebbeMDBrokerChild(os.Getenv("ZG_BIND")))
		os.Exit(2)
	case "threads":
		n, _ := strconv.Atoi(os.Getenv("ZG_N"))
		th, err := runThreadsChild(os.Getenv("ZG_VARIANT"), n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "zgbench threads child:", err)
			os.Exit(2)
		}
		fmt.Printf("THREADS %d\n", th)
		os.Exit(0)
	case "reqrep":
		n, _ := strconv.Atoi(os.Getenv("ZG_N"))
		var m map[string]float64
		var err error
		if ep := os.Getenv("ZG_SERVER"); ep != "" {
			m, err = requestRoundTrips(ep, os.Getenv("ZG_KIND"), n)
		} else {
			m, err = reqRepOf(os.Getenv("ZG_KIND"), "tcp", n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "zgbench reqrep child:", err)
			os.Exit(2)
		}
		b, _ := json.Marshal(m)
		fmt.Printf("METRICS %s\n", b)
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "zgbench: unknown child mode")
		os.Exit(2)
	}
}

// runEchoChild is a zmqguard REP echo server; it prints READY <endpoint>.
func runEchoChild(bind string) error {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	s, err := zctx.NewSocket(zmq.REP)
	if err != nil {
		return err
	}
	return serveEcho(s, bind)
}

// runPebbeEchoChild is runEchoChild with a raw pebbe/zmq4 REP socket.
func runPebbeEchoChild(bind string) error {
	ctx, err := zmq4.NewContext()
	if err != nil {
		return err
	}
	s, err := ctx.NewSocket(zmq4.REP)
	if err != nil {
		return err
	}
	return serveEcho(s, bind)
}

// echoSocket is what serveEcho needs of a zmqguard or pebbe/zmq4 socket.
type echoSocket interface {
	Bind(endpoint string) error
	GetLastEndpoint() (string, error)
	RecvMessageBytes(flags zmq4.Flag) ([][]byte, error)
	SendMessage(parts ...interface{}) (int, error)
}

// serveEcho binds s, prints READY <endpoint> and echoes every message.
func serveEcho(s echoSocket, bind string) error {
	if err := s.Bind(bind); err != nil {
		return err
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", ep)
	for {
		msg, err := s.RecvMessageBytes(0)
		if err != nil {
			return err
		}
		if _, err := s.SendMessage(msg); err != nil {
			return err
		}
	}
}

// child is a running echo server process.
type child struct {
	cmd      *exec.Cmd
	Endpoint string
	Ready    time.Time // when READY was read
	exited   chan struct{}
	once     sync.Once
}

// startEcho starts a zmqguard echo child bound to bind and waits until it
// is ready.
func startEcho(bind string) (*child, error) { return startEchoOf("echo", bind) }

// startEchoOf starts an echo child of the given mode ("echo": zmqguard,
// "echo-pebbe": raw pebbe/zmq4), or another child that prints READY
// <endpoint> once bound (the mdp rows' brokers, "mdbroker" and
// "mdbroker-pebbe").
func startEchoOf(mode, bind string) (*child, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode, "ZG_BIND="+bind)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if ep, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- ep
			}
		}
		cmd.Wait()
		close(c.exited)
	}()
	select {
	case c.Endpoint = <-ready:
		c.Ready = time.Now()
		return c, nil
	case <-c.exited:
		return nil, errors.New("echo child exited before it was ready")
	case <-time.After(10 * time.Second):
		c.Kill()
		return nil, errors.New("echo child not ready after 10s")
	}
}

// Kill sends SIGKILL and waits for the process to exit. Idempotent.
func (c *child) Kill() {
	// No SIGCONT first: SIGKILL ends a stopped process too, and a thawed
	// one could still answer a request before it dies.
	c.once.Do(func() { c.cmd.Process.Kill() })
	<-c.exited
}

// Stop freezes the process with SIGSTOP and waits (up to 1 s) until the
// kernel reports it stopped: the signal is asynchronous, and a child still
// running could answer one more request.
func (c *child) Stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	stat := fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return err
		}
		// pid (comm) state ...: the state follows the last ')'.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
	}
	return errors.New("child not stopped 1s after SIGSTOP")
}

// The shared echo children, one per mode, are reused by the rows that only
// need a server in another process (so that its allocations are not
// counted, and so that it does not share the client's scheduler).
var (
	sharedMu    sync.Mutex
	sharedProcs = map[string]*child{}
)

// sharedEcho returns the endpoint of the shared zmqguard echo child.
func sharedEcho() (string, error) { return sharedEchoOf("echo") }

func sharedEchoOf(mode string) (string, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c := sharedProcs[mode]; c != nil {
		return c.Endpoint, nil
	}
	c, err := startEchoOf(mode, "tcp://127.0.0.1:*")
	if err != nil {
		return "", err
	}
	sharedProcs[mode] = c
	return c.Endpoint, nil
}

func cleanupShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for mode, c := range sharedProcs {
		c.Kill()
		delete(sharedProcs, mode)
	}
}

// threadsIn runs a threads child and returns the thread count it reported.
func threadsIn(variant string, n int) (float64, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=threads", "ZG_VARIANT="+variant, "ZG_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("threads child: %w", err)
	}
	s, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "THREADS ")
	if !ok {
		return 0, fmt.Errorf("threads child said %q", out)
	}
	return strconv.ParseFloat(s, 64)
}

// sysmonAwake is the GODEBUG setting that keeps the Go runtime's sysmon
// thread out of its deep sleep (it prints the scheduler's state once at
// start, then hourly). See docs/BENCHMARKS.md, "Where the rest of the gap
// goes".
const sysmonAwake = "schedtrace=3600000"

// reqRepAwakeIn runs reqRepOf(kind, "tcp", n) in a child process whose
// runtime keeps sysmon awake, and returns its metrics.
func reqRepAwakeIn(kind string, n int) (map[string]float64, error) {
	godebug := sysmonAwake
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + sysmonAwake
	}
	return reqRepIn(kind, "", n, "GODEBUG="+godebug)
}

// reqRepIn measures n round trips of a client of the given kind in a child
// process with env added to its environment: against the server at ep, or
// (ep empty) against an echo server of its own kind in the child, as
// reqRepOf does.
func reqRepIn(kind, ep string, n int, env ...string) (map[string]float64, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=reqrep", "ZG_KIND="+kind, "ZG_N="+strconv.Itoa(n), "ZG_SERVER="+ep)
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer // the scheduler's state, and any error
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reqrep child: %w: %s", err, lastLine(stderr.String()))
	}
	js, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "METRICS ")
	if !ok {
		return nil, fmt.Errorf("reqrep child said %q", out)
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return nil, fmt.Errorf("reqrep child: %w", err)
	}
	return m, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// osThreads reads Threads from /proc/self/status.
func osThreads() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no Threads line in /proc/self/status")
}

// raiseNofile raises RLIMIT_NOFILE's soft limit to its hard limit.
func raiseNofile() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// waitThreads waits until the thread count stops growing (or d passes).
func waitThreads(want int, d time.Duration) int {
	deadline := time.Now().Add(d)
	last, stable := 0, 0
	for time.Now().Before(deadline) {
		th, _ := osThreads()
		if th == last && th >= want {
			stable++
			if stable >= 5 {
				return th
			}
		} else {
			stable = 0
		}
		last = th
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// blocked counts goroutines that are about to block in a receive.
var blocked atomic.Int64

// runThreadsChild creates n PULL sockets with no peer and blocks one
// goroutine in a receive on each, then counts the process's OS threads.
func runThreadsChild(variant string, n int) (int, error) {
	if err := raiseNofile(); err != nil {
		return 0, err
	}
	debug.SetMaxThreads(n + 1000)
	start := func(recv func(i int) error) error {
		errs := make(chan error, 1)
		for i := range n {
			go func() {
				blocked.Add(1)
				if err := recv(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}()
		}
		for blocked.Load() < int64(n) {
			select {
			case err := <-errs:
				return err
			default:
				time.Sleep(5 * time.Millisecond)
			}
		}
		return nil
	}
	if err := threadVariant(variant, n, start); err != nil {
		return 0, err
	}
	// pebbe's blocking receives each take a thread as they enter cgo;
	// wait until the count settles.
	want := 0
	if variant == "pebbe" {
		want = n
	} else {
		time.Sleep(300 * time.Millisecond)
	}
	return waitThreads(want, 10*time.Second), nil
}
