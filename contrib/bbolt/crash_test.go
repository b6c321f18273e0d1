package bbolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// The crash test (docs/DURABILITY.md): a server and a client process,
// each SIGKILLed and restarted at random points of a run of requests. The
// server's handler records every execution, and the client every
// delivery, in files written with O_APPEND and fsync, which outlive the
// kills. ZMQGUARD_CRASH=N runs N requests with N/100 kills of each kind
// (`make crash`); the default suite runs 1,000 requests with a few kills.

const (
	roleEnv     = "ZMQGUARD_CRASH_ROLE"
	endpointEnv = "ZMQGUARD_CRASH_ENDPOINT"
	storeEnv    = "ZMQGUARD_CRASH_STORE" // server: the reply store's file, "" for memory only
	unknownEnv  = "ZMQGUARD_CRASH_UNKNOWN"
	logEnv      = "ZMQGUARD_CRASH_LOG" // server: executions; client: deliveries
	outboxEnv   = "ZMQGUARD_CRASH_OUTBOX"
	countEnv    = "ZMQGUARD_CRASH_COUNT"
)

func runRole(role string) int {
	var err error
	switch role {
	case "server":
		err = crashServer()
	case "client":
		err = crashClient()
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	return 0
}

// appendLog is a file each line of which is on disk when append returns.
type appendLog struct{ f *os.File }

func openAppendLog(path string) (*appendLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	return &appendLog{f}, err
}

func (l *appendLog) append(line string) error {
	if _, err := l.f.WriteString(line + "\n"); err != nil {
		return err
	}
	return l.f.Sync()
}

func crashServer() error {
	execs, err := openAppendLog(os.Getenv(logEnv))
	if err != nil {
		return err
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	opts := []reliable.ServerOption{reliable.WithConcurrency(32)}
	if path := os.Getenv(storeEnv); path != "" {
		st, err := zgbolt.OpenReplyStore(path)
		if err != nil {
			return err
		}
		opts = append(opts, reliable.WithReplyStore(st))
		if os.Getenv(unknownEnv) != "" {
			opts = append(opts, reliable.WithOutcomeUnknownReplies())
		}
	}
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		info, _ := reliable.RequestInfoFromContext(ctx)
		if err := execs.append(fmt.Sprintf("%d %s", info.ID.Seq, req[0])); err != nil {
			return nil, err
		}
		// Work that takes a while, so that kills land during handlers too.
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return [][]byte{append([]byte("ok:"), req[0]...)}, nil
	}
	srv, err := reliable.Listen(zctx, os.Getenv(endpointEnv), h, opts...)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	return srv.Serve(context.Background()) // until SIGKILL
}

func crashClient() error {
	n, err := strconv.ParseUint(os.Getenv(countEnv), 10, 64)
	if err != nil {
		return err
	}
	delivs, err := openAppendLog(os.Getenv(logEnv))
	if err != nil {
		return err
	}
	store, err := zgbolt.OpenOutboxStore(os.Getenv(outboxEnv))
	if err != nil {
		return err
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	failed := make(chan error, 1)
	deliver := func(d reliable.Delivery) {
		status := "ok"
		var re *reliable.RemoteError
		switch {
		case d.DeadLettered:
			status = "dead"
		case errors.As(d.Err, &re):
			status = "err:" + re.Code
		case d.Err != nil:
			status = "err"
		}
		reply := ""
		if len(d.Reply) > 0 {
			reply = string(d.Reply[0])
		}
		if err := delivs.append(fmt.Sprintf("%d %s %s %s", d.Seq, d.Request[0], status, reply)); err != nil {
			select {
			case failed <- err:
			default:
			}
		}
	}
	ob, err := reliable.NewOutbox(zctx, []string{os.Getenv(endpointEnv)}, store, deliver,
		reliable.WithOutboxMaxPending(16), reliable.WithOutboxRetryFor(time.Hour),
		reliable.WithOutboxClient(reliable.WithAttemptTimeout(500*time.Millisecond), reliable.WithReconnectInterval(20*time.Millisecond)))
	if err != nil {
		return err
	}
	fmt.Println("READY")
	last, err := store.LastSeq()
	if err != nil {
		return err
	}
	for next := last + 1; next <= n; next++ {
		seq, err := ob.Submit(context.Background(), fmt.Appendf(nil, "req-%d", next))
		if err != nil {
			return err
		}
		if seq != next {
			return fmt.Errorf("submitted as %d, want %d", seq, next)
		}
	}
	// Done when nothing is pending.
	for {
		select {
		case err := <-failed:
			return err
		case <-time.After(20 * time.Millisecond):
		}
		p, err := store.Pending(0, 1)
		if err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
	}
}

// proc is a process of the crash test.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startProc(t *testing.T, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	if err := testpeer.StartTied(t, cmd, exited); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: exited}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "READY"
		ready <- ok
		for sc.Scan() {
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	select {
	case ok := <-ready:
		if !ok {
			p.kill()
			t.Fatalf("%v: not ready: %v", env[0], p.err)
		}
	case <-time.After(15 * time.Second):
		p.kill()
		t.Fatalf("%v: not ready in 15 s", env[0])
	}
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// crashReport is what a crash run found.
type crashReport struct {
	Requests, ServerKills, ClientKills int
	ExecutedTwice                      int // requests whose handler ran more than once
	Executions                         int // handler runs in all
	Lost                               int // requests never delivered
	Wrong                              int // deliveries whose reply is not their request's
	OutcomeUnknown                     int // requests answered wire.CodeOutcomeUnknown
	Redelivered                        int // requests delivered more than once (a client killed between delivery and forgetting)
	NeverExecutedOK                    int // requests delivered a success without a recorded execution (must be 0)
	Elapsed                            time.Duration
	LongestStall                       time.Duration // the longest time without an execution or delivery
}

func (r crashReport) String() string {
	return fmt.Sprintf("%d requests, %d server and %d client SIGKILLs in %v (longest stall %v): executed more than once %d, lost %d, wrong replies %d, outcome unknown %d, delivered again %d (%d executions)",
		r.Requests, r.ServerKills, r.ClientKills, r.Elapsed.Round(time.Millisecond), r.LongestStall.Round(time.Millisecond),
		r.ExecutedTwice, r.Lost, r.Wrong, r.OutcomeUnknown, r.Redelivered, r.Executions)
}

type crashPlan struct {
	requests                 int
	serverKills, clientKills int
	store                    bool // a persistent reply store on the server
	unknown                  bool // WithOutcomeUnknownReplies
}

// runCrash runs a plan: kills land at random counts of executions.
func runCrash(t *testing.T, plan crashPlan) crashReport {
	dir := t.TempDir()
	endpoint := "ipc://" + filepath.Join(dir, "s.sock")
	execLog, delivLog := filepath.Join(dir, "execs.log"), filepath.Join(dir, "delivs.log")
	serverEnv := []string{roleEnv + "=server", endpointEnv + "=" + endpoint, logEnv + "=" + execLog}
	if plan.store {
		serverEnv = append(serverEnv, storeEnv+"="+filepath.Join(dir, "replies.db"))
	}
	if plan.unknown {
		serverEnv = append(serverEnv, unknownEnv+"=1")
	}
	clientEnv := []string{roleEnv + "=client", endpointEnv + "=" + endpoint, logEnv + "=" + delivLog,
		outboxEnv + "=" + filepath.Join(dir, "outbox.db"), countEnv + "=" + strconv.Itoa(plan.requests)}

	// The kills, at random numbers of executions from 5 % to 85 % of the
	// run, in order.
	type kill struct {
		at     int
		server bool
	}
	var kills []kill
	for i := range plan.serverKills + plan.clientKills {
		kills = append(kills, kill{at: plan.requests/20 + rand.IntN(plan.requests*8/10), server: i < plan.serverKills})
	}
	for i := range kills {
		for j := i + 1; j < len(kills); j++ {
			if kills[j].at < kills[i].at {
				kills[i], kills[j] = kills[j], kills[i]
			}
		}
	}

	start := time.Now()
	server := startProc(t, serverEnv...)
	client := startProc(t, clientEnv...)
	rep := crashReport{Requests: plan.requests}
	// A run that makes no progress for stallAfter is stuck: both
	// processes print their goroutines (SIGQUIT) and the test fails.
	const stallAfter = 30 * time.Second
	last, lastChange := -1, time.Now()
	progress := func() int {
		n := countLines(t, execLog) + countLines(t, delivLog)
		if n != last {
			rep.LongestStall = max(rep.LongestStall, time.Since(lastChange))
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > stallAfter {
			// Both are signalled before either is waited for: a client
			// dumped after the server died shows its endpoint down,
			// whatever its state was during the stall.
			for _, p := range []*proc{server, client} {
				_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			}
			for _, p := range []*proc{server, client} {
				<-p.exited
			}
			t.Fatalf("no progress for %v: %d executions, %d deliveries", stallAfter, countLines(t, execLog), countLines(t, delivLog))
		}
		return countLines(t, execLog)
	}
	for len(kills) > 0 {
		select {
		case <-client.exited:
			t.Fatalf("the client ended before the kills: %v", client.err)
		case <-time.After(2 * time.Millisecond): // the logs have no event to await
		}
		if progress() < kills[0].at {
			continue
		}
		if kills[0].server {
			server.kill()
			rep.ServerKills++
			server = startProc(t, serverEnv...)
		} else {
			client.kill()
			rep.ClientKills++
			client = startProc(t, clientEnv...)
		}
		kills = kills[1:]
	}
	for done := false; !done; {
		select {
		case <-client.exited:
			if client.err != nil {
				t.Fatalf("client: %v", client.err)
			}
			done = true
		case <-time.After(100 * time.Millisecond):
			progress()
		}
	}
	rep.Elapsed = time.Since(start)
	server.kill()

	execCount := map[uint64]int{}
	for _, f := range readLines(t, execLog) {
		seq, _ := strconv.ParseUint(f[0], 10, 64)
		if f[1] != fmt.Sprintf("req-%d", seq) {
			t.Errorf("execution of %d had request %q", seq, f[1])
		}
		execCount[seq]++
		rep.Executions++
	}
	delivered := map[uint64]int{}
	for _, f := range readLines(t, delivLog) {
		seq, _ := strconv.ParseUint(f[0], 10, 64)
		delivered[seq]++
		want := fmt.Sprintf("req-%d", seq)
		switch {
		case f[1] != want:
			rep.Wrong++
		case f[2] == "err:"+wire.CodeOutcomeUnknown:
			if delivered[seq] == 1 {
				rep.OutcomeUnknown++
			}
		case f[2] != "ok" || len(f) < 4 || f[3] != "ok:"+want:
			rep.Wrong++
		case execCount[seq] == 0:
			rep.NeverExecutedOK++
		}
	}
	for seq := uint64(1); seq <= uint64(plan.requests); seq++ {
		if execCount[seq] > 1 {
			rep.ExecutedTwice++
		}
		switch {
		case delivered[seq] == 0:
			rep.Lost++
		case delivered[seq] > 1:
			rep.Redelivered++
		}
	}
	return rep
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func readLines(t *testing.T, path string) [][]string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("torn line %q in %s", l, path)
		}
		out = append(out, f)
	}
	return out
}

// crashSize is the number of requests and of kills of each process.
func crashSize() (requests, kills int) {
	if n, err := strconv.Atoi(os.Getenv("ZMQGUARD_CRASH")); err == nil && n >= 100 {
		return n, n / 100
	}
	return 1000, 3
}

func TestCrashDurable(t *testing.T) {
	n, kills := crashSize()
	rep := runCrash(t, crashPlan{requests: n, serverKills: kills, clientKills: kills, store: true, unknown: true})
	t.Logf("bbolt reply store, outcome-unknown replies: %v", rep)
	if rep.ExecutedTwice != 0 || rep.Lost != 0 || rep.Wrong != 0 || rep.NeverExecutedOK != 0 {
		t.Errorf("want no request executed twice, lost or answered wrongly: %v", rep)
	}
}

// Without WithOutcomeUnknownReplies, the requests running at a server kill
// run again: at most the requests in flight at each kill (the client
// sends up to 16 at once).
func TestCrashDurableRerun(t *testing.T) {
	n, kills := crashSize()
	rep := runCrash(t, crashPlan{requests: n, serverKills: kills, clientKills: kills, store: true})
	t.Logf("bbolt reply store, started requests run again: %v", rep)
	if rep.Lost != 0 || rep.Wrong != 0 || rep.OutcomeUnknown != 0 || rep.ExecutedTwice > 16*rep.ServerKills {
		t.Errorf("want nothing lost or wrong, and at most 16 re-runs per server kill: %v", rep)
	}
}

// The reply cache in memory only: what the store fixes.
func TestCrashInMemory(t *testing.T) {
	n, kills := crashSize()
	rep := runCrash(t, crashPlan{requests: n, serverKills: kills, clientKills: kills})
	t.Logf("reply cache in memory only: %v", rep)
	if rep.Lost != 0 || rep.Wrong != 0 {
		t.Errorf("want nothing lost or wrong: %v", rep)
	}
}
