package soak

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

const envPeer = "ZMQGUARD_SOAKPEER"

// checksum is what the server returns for a request: it proves the reply
// was computed from this request's content.
func checksum(key, payload []byte) []byte {
	h := sha256.New()
	h.Write(key)
	h.Write([]byte{0})
	h.Write(payload)
	return []byte(hex.EncodeToString(h.Sum(nil)[:16]))
}

// failKey says whether the handler refuses this request with an error
// (a deliberate, verifiable RemoteError outcome).
func failKey(key string) bool {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()%61 == 7
}

// workDelay is the handler's simulated work for a key: 0-7 ms.
func workDelay(key string) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(key))
	return time.Duration(h.Sum32()%8) * time.Millisecond
}

// runServerPeer is the server process: a reliable.Server on ZG_BIND that
// logs "EXEC <key>" for every execution and replies [key, checksum]. It
// also logs "DUP" for every retry its dedupe answered without executing,
// and "EVICT <n>" when its reply cache evicts early (which would make a
// re-execution legitimate; the soak requires none).
func runServerPeer() int {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakpeer:", err)
		return 2
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if len(req) != 2 {
			return nil, fmt.Errorf("request of %d frames", len(req))
		}
		key := string(req[0])
		mu.Lock()
		fmt.Fprintf(out, "EXEC %s\n", key)
		out.Flush()
		mu.Unlock()
		if d := workDelay(key); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		if failKey(key) {
			return nil, errors.New("refused " + key)
		}
		return [][]byte{req[0], checksum(req[0], req[1])}, nil
	}
	hook := func(ev reliable.ServerEvent) {
		var line string
		switch ev.Kind {
		case reliable.ServerEventDuplicate:
			line = "DUP"
		case reliable.ServerEventEviction:
			line = fmt.Sprintf("EVICT %d", ev.Count)
		default:
			return
		}
		mu.Lock()
		fmt.Fprintln(out, line)
		out.Flush()
		mu.Unlock()
	}
	srv, err := reliable.Listen(zctx, os.Getenv("ZG_BIND"), h,
		reliable.WithDedupeWindow(60*time.Second),
		reliable.WithReplyCache(1<<20, 512<<20),
		reliable.WithServerEventHook(hook))
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakpeer: listen:", err)
		return 3
	}
	mu.Lock()
	fmt.Fprintf(out, "READY %s\n", srv.Addr())
	out.Flush()
	mu.Unlock()
	err = srv.Serve(context.Background()) // until SIGKILL
	fmt.Fprintln(os.Stderr, "soakpeer: serve:", err)
	return 4
}

// server is one server process slot: its proxy and its current process.
// Restarts bind the same port, so the proxy's upstream stays valid.
type server struct {
	idx    int
	ledger *ledger
	bind   string // tcp://127.0.0.1:port once known
	upHost string // 127.0.0.1:port

	mu     sync.Mutex // serialises chaos actions on this slot
	cmd    *exec.Cmd
	pid    int
	exited chan struct{}
}

// start starts a server process, tied to t (testpeer.StartTied), and
// waits (10 s) until it is bound.
func (s *server) start(t testing.TB) error {
	bind := s.bind
	if bind == "" {
		bind = "tcp://127.0.0.1:*"
	}
	var last error
	for try := 0; try < 50; try++ {
		ep, err := s.startOnce(t, bind)
		if err == nil {
			s.bind = ep
			s.upHost = strings.TrimPrefix(ep, "tcp://")
			return nil
		}
		last = err
		time.Sleep(100 * time.Millisecond) // the port may be briefly busy
	}
	return last
}

func (s *server) startOnce(t testing.TB, bind string) (string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envPeer+"=server", "ZG_BIND="+bind)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	exited := make(chan struct{})
	if err := testpeer.StartTied(t, cmd, exited); err != nil {
		return "", err
	}
	pid := cmd.Process.Pid
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "EXEC "):
				s.ledger.exec(strings.TrimPrefix(line, "EXEC "), pid)
			case line == "DUP":
				s.ledger.mu.Lock()
				s.ledger.suppressed++
				s.ledger.mu.Unlock()
			case strings.HasPrefix(line, "EVICT "):
				n, _ := strconv.Atoi(strings.TrimPrefix(line, "EVICT "))
				s.ledger.mu.Lock()
				s.ledger.evicted += n
				s.ledger.mu.Unlock()
			case strings.HasPrefix(line, "READY "):
				ready <- strings.TrimPrefix(line, "READY ")
			}
		}
		cmd.Wait()
		close(exited)
	}()
	select {
	case ep := <-ready:
		s.cmd, s.pid, s.exited = cmd, pid, exited
		return ep, nil
	case <-exited:
		return "", fmt.Errorf("server %d exited before it was ready", s.idx)
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
		return "", fmt.Errorf("server %d not ready after 10s", s.idx)
	}
}

// kill SIGKILLs the process and waits for it (and its output) to end.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *server) signal(sig syscall.Signal) {
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// ledger records executions by (key, pid) in a compact form: keys are
// "<worker>-<n>", stored as worker<<40|n.
type ledger struct {
	mu    sync.Mutex
	execs map[[2]uint64]uint16
	bad   int // lines that did not parse

	suppressed int // retries answered without running the handler (DUP)
	evicted    int // cached replies evicted before their window ended
}

func newLedger() *ledger { return &ledger{execs: map[[2]uint64]uint16{}} }

func packKey(key string) (uint64, bool) {
	w, n, ok := strings.Cut(key, "-")
	if !ok {
		return 0, false
	}
	wi, err1 := strconv.ParseUint(w, 10, 20)
	ni, err2 := strconv.ParseUint(n, 10, 40)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return wi<<40 | ni, true
}

func (l *ledger) exec(key string, pid int) {
	k, ok := packKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		l.bad++
		return
	}
	l.execs[[2]uint64{k, uint64(pid)}]++
}

// dupes returns, for the workers whose requests must not execute twice on
// one process, how many keys did; for the others, how many re-ran on one
// process; and how many keys ran on more than one process (expected).
func (l *ledger) dupes(mustNotRepeat func(worker int) bool) (violations, expected, crossPID int, examples []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pids := map[uint64]int{}
	for k := range l.execs {
		if pids[k[0]]++; pids[k[0]] == 2 {
			crossPID++
		}
	}
	for k, n := range l.execs {
		if n < 2 {
			continue
		}
		w := int(k[0] >> 40)
		if mustNotRepeat(w) {
			violations++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%d-%d executed %d times by pid %d", w, k[0]&(1<<40-1), n, k[1]))
			}
		} else {
			expected++
		}
	}
	return violations, expected, crossPID, examples
}
