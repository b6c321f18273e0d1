package testpeer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

const envMode = "ZMQGUARD_TESTPEER"

// Behaviour configures an echo peer.
type Behaviour struct {
	Bind       string        // endpoint to bind; tcp://127.0.0.1:* picks a port
	Socket     string        // "rep" (default) or "router" (echoes the envelope)
	Delay      time.Duration // wait before replying
	DelayFirst int           // delay only the first DelayFirst requests (0: all)
	HangAfter  int           // after this many requests, stop replying (0: never)
	Mute       bool          // never reply
	Prefix     string        // prepended to the last frame of the reply
}

func (b Behaviour) env() []string {
	return []string{
		envMode + "=echo",
		"ZG_BIND=" + b.Bind,
		"ZG_SOCKET=" + b.Socket,
		"ZG_DELAY=" + b.Delay.String(),
		fmt.Sprintf("ZG_HANG_AFTER=%d", b.HangAfter),
		fmt.Sprintf("ZG_DELAY_FIRST=%d", b.DelayFirst),
		fmt.Sprintf("ZG_MUTE=%t", b.Mute),
		"ZG_PREFIX=" + b.Prefix,
	}
}

// MaybeRun runs the peer and exits when the process was started as one.
// Call it first in TestMain.
func MaybeRun() {
	mode := os.Getenv(envMode)
	if f := custom[mode]; f != nil {
		fmt.Fprintln(os.Stderr, "testpeer:", mode+":", f())
		os.Exit(2)
	}
	if mode != "echo" {
		return
	}
	delay, _ := time.ParseDuration(os.Getenv("ZG_DELAY"))
	var hang, first int
	fmt.Sscan(os.Getenv("ZG_HANG_AFTER"), &hang)
	fmt.Sscan(os.Getenv("ZG_DELAY_FIRST"), &first)
	b := Behaviour{Bind: os.Getenv("ZG_BIND"), Socket: os.Getenv("ZG_SOCKET"), Delay: delay,
		HangAfter: hang, DelayFirst: first, Mute: os.Getenv("ZG_MUTE") == "true", Prefix: os.Getenv("ZG_PREFIX")}
	// runEcho serves until it fails or the test kills the process.
	fmt.Fprintln(os.Stderr, "testpeer:", runEcho(b))
	os.Exit(2)
}

func runEcho(b Behaviour) error {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	typ := zmq.REP
	if b.Socket == "router" {
		typ = zmq.ROUTER
	}
	s, err := zctx.NewSocket(typ)
	if err != nil {
		return err
	}
	if err := s.Bind(b.Bind); err != nil {
		return err
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "READY %s\n", ep)
	out.Flush()
	for n := 1; ; n++ {
		msg, err := s.RecvMessageBytes(0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "EXEC %s\n", msg[len(msg)-1])
		out.Flush()
		if b.Mute || (b.HangAfter > 0 && n > b.HangAfter) {
			time.Sleep(time.Hour) // alive, never replies (killed by the test)
		}
		if b.DelayFirst == 0 || n <= b.DelayFirst {
			time.Sleep(b.Delay)
		}
		reply := append([][]byte(nil), msg...)
		last := len(reply) - 1
		reply[last] = append([]byte(b.Prefix), reply[last]...)
		if _, err := s.SendMessage(reply); err != nil {
			return err
		}
	}
}

// custom holds the peer programs registered by Register.
var custom = map[string]func() error{}

// Register registers main as the peer program called name, for
// StartCustom. Call it in TestMain before MaybeRun. main runs in the
// re-executed test binary; it reads its settings from the environment
// given to StartCustom, calls Ready once it can be reached, Executed for
// every request it runs, and serves until it is killed.
func Register(name string, main func() error) {
	if name == "" || name == "echo" || main == nil {
		panic("testpeer: Register: invalid name or nil main")
	}
	custom[name] = main
}

// Ready prints the READY line that Start and StartCustom wait for.
func Ready(endpoint string) {
	fmt.Fprintf(os.Stdout, "READY %s\n", endpoint)
}

// Executed prints the EXEC line by which a peer reports that it executed
// a request whose last frame was body.
func Executed(body string) {
	fmt.Fprintf(os.Stdout, "EXEC %s\n", body)
}

// StartCustom starts the peer program registered as name, with env
// ("KEY=value") added to its environment, and waits (up to 10 s) until it
// prints READY. The process is killed when the test ends.
func StartCustom(t testing.TB, name string, env ...string) *Proc {
	t.Helper()
	if custom[name] == nil {
		t.Fatalf("testpeer: %q is not registered", name)
	}
	return start(t, append([]string{envMode + "=" + name}, env...))
}

// Proc is a running peer process.
type Proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	Endpoint string

	mu      sync.Mutex
	execs   map[string]int
	changed chan struct{} // closed and replaced on every EXEC
	execCh  chan string
	exited  chan struct{}
}

// Start starts a peer and waits (up to 10 s) for it to be ready. The
// process is killed when the test ends.
func Start(t testing.TB, b Behaviour) *Proc {
	t.Helper()
	return start(t, b.env())
}

func start(t testing.TB, env []string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	if err := StartTied(t, cmd, exited); err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, cmd: cmd, execs: map[string]int{}, execCh: make(chan string, 1024),
		exited: exited, changed: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "READY "):
				ready <- strings.TrimPrefix(line, "READY ")
			case strings.HasPrefix(line, "EXEC "):
				body := strings.TrimPrefix(line, "EXEC ")
				p.mu.Lock()
				p.execs[body]++
				close(p.changed)
				p.changed = make(chan struct{})
				p.mu.Unlock()
				select {
				case p.execCh <- body:
				default:
				}
			}
		}
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.Kill)
	select {
	case p.Endpoint = <-ready:
	case <-p.exited:
		t.Fatalf("testpeer exited before it was ready")
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatalf("testpeer not ready after 10s")
	}
	return p
}

// Kill kills the peer with SIGKILL and waits for it to exit. Idempotent.
func (p *Proc) Kill() {
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.cmd.Process.Kill()
	<-p.exited
}

// Stop freezes the peer with SIGSTOP; Cont thaws it.
func (p *Proc) Stop() { p.cmd.Process.Signal(syscall.SIGSTOP) }

// Cont resumes a peer frozen with Stop.
func (p *Proc) Cont() { p.cmd.Process.Signal(syscall.SIGCONT) }

// Executions returns how often the peer executed a request whose last
// frame was body.
func (p *Proc) Executions(body string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.execs[body]
}

// WaitExecutions waits up to d until the peer has reported at least n
// executions of body (its output is read asynchronously), and returns the
// count it saw.
func (p *Proc) WaitExecutions(body string, n int, d time.Duration) int {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		p.mu.Lock()
		got, ch := p.execs[body], p.changed
		p.mu.Unlock()
		if got >= n {
			return got
		}
		select {
		case <-ch:
		case <-timer.C:
			return got
		case <-p.exited:
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.execs[body]
		}
	}
}

// TotalExecutions returns how many requests the peer executed.
func (p *Proc) TotalExecutions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.execs {
		n += c
	}
	return n
}

// NextExec waits until the peer starts executing a request it has not
// reported yet, and returns its body: unlike AwaitExec it first drops the
// executions already reported, so the request it returns is the latest.
func (p *Proc) NextExec(ctx context.Context) (string, error) {
	for {
		select {
		case <-p.execCh:
			continue
		default:
		}
		return p.AwaitExec(ctx)
	}
}

// AwaitExec waits until the peer executes a request, and returns its body.
func (p *Proc) AwaitExec(ctx context.Context) (string, error) {
	select {
	case b := <-p.execCh:
		return b, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
