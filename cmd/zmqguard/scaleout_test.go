package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/contrib/dnstest"
	"github.com/zmqguard/zmqguard/contrib/etcd"
	"github.com/zmqguard/zmqguard/contrib/etcd/etcdtest"
	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// The scale-out test (issue 19's "done when"): three `zmqguard serve`
// processes behind one name, a client driving requests the whole time,
// and membership changing under it: (a) the spread over three, (b) one
// SIGKILLed, (c) a fourth joins, (d) one leaves gracefully. It runs once
// with DNS (records changed in an in-process DNS server) and once with
// etcd (servers register themselves with --register). Each phase lasts
// ZMQGUARD_SCALEOUT_PHASE (1.5 s by default; make scaleout runs longer).

// scaleBackend is how the servers are found.
type scaleBackend interface {
	// resolver is the client's; the servers listen on port.
	resolver(t *testing.T, port int) discovery.Resolver
	// serveArgs are the extra flags of a server.
	serveArgs() []string
	// joined makes a started server findable (DNS: its record).
	joined(ip netip.Addr)
	// left makes a server unfindable before it is stopped or after it was
	// killed (DNS: its record goes; etcd: nothing, the server or its
	// lease does it).
	left(ip netip.Addr)
	// interval bounds how long the client takes to see a change.
	interval() time.Duration
}

// scaleServer is one `zmqguard serve --verbose --json` process; its
// stdout lists every request it executed.
type scaleServer struct {
	p  *proc
	ip netip.Addr
}

// executed returns the requests the server executed so far.
func (s *scaleServer) executed() []string {
	var out []string
	for _, line := range strings.Split(s.p.rest.String(), "\n") {
		var ev struct {
			Event   string   `json:"event"`
			Request []string `json:"request"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "request" && len(ev.Request) > 0 {
			out = append(out, ev.Request[0])
		}
	}
	return out
}

func phaseLength() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ZMQGUARD_SCALEOUT_PHASE")); err == nil && d > 0 {
		return d
	}
	return 1500 * time.Millisecond
}

// driver drives requests on c from a few goroutines until stopped.
type driver struct {
	c       *reliable.Client
	stop    chan struct{}
	wg      sync.WaitGroup
	n       atomic.Int64
	ok      atomic.Int64
	mu      sync.Mutex
	errs    []string
	latency atomic.Int64 // the longest request, ns
}

func drive(c *reliable.Client, workers int) *driver {
	d := &driver{c: c, stop: make(chan struct{})}
	for range workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for {
				select {
				case <-d.stop:
					return
				default:
				}
				id := fmt.Sprintf("req-%d", d.n.Add(1))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				rep, err := c.Request(ctx, []byte(id))
				cancel()
				if el := int64(time.Since(start)); el > d.latency.Load() {
					d.latency.Store(el)
				}
				switch {
				case err != nil:
					d.mu.Lock()
					d.errs = append(d.errs, fmt.Sprintf("%s at %s: %v", id, time.Now().Format("15:04:05.000"), err))
					d.mu.Unlock()
				case len(rep) != 1 || string(rep[0]) != id:
					d.mu.Lock()
					d.errs = append(d.errs, fmt.Sprintf("%s: wrong reply %q", id, rep))
					d.mu.Unlock()
				default:
					d.ok.Add(1)
				}
			}
		}()
	}
	return d
}

func (d *driver) halt() {
	close(d.stop)
	d.wg.Wait()
}

func (d *driver) errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

// waitUntil polls cond (membership and traffic have no event the test
// can await) and returns how long it took.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		require.Less(t, time.Since(start), within, "%s: not within %v", what, within)
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func runScaleOut(t *testing.T, b scaleBackend) {
	if testing.Short() {
		t.Skip("scale-out test: skipped in -short")
	}
	phase := phaseLength()
	port := freePort(t)
	startServer := func(n int) *scaleServer {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(n)})
		args := append([]string{"serve", "--verbose", "--json"}, b.serveArgs()...)
		args = append(args, fmt.Sprintf("tcp://%s:%d", ip, port))
		s := &scaleServer{p: start(t, args...), ip: ip}
		b.joined(ip)
		return s
	}
	servers := []*scaleServer{startServer(1), startServer(2), startServer(3)}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	t.Cleanup(func() { zctx.Term() })
	c, err := reliable.NewClientFor(zctx, b.resolver(t, port), reliable.WithBalancer(reliable.RoundRobin),
		reliable.WithAttemptTimeout(2*time.Second), reliable.WithMaxAttempts(5))
	require.NoError(t, err)
	defer c.Close()
	endpoint := func(s *scaleServer) string { return fmt.Sprintf("tcp://%s:%d", s.ip, port) }
	has := func(s *scaleServer) bool {
		for _, e := range c.Endpoints() {
			if e == endpoint(s) {
				return true
			}
		}
		return false
	}
	waitUntil(t, 15*time.Second, "three endpoints resolved", func() bool { return len(c.Endpoints()) == 3 })

	d := drive(c, 4)
	stopped := false
	defer func() {
		if !stopped {
			d.halt()
		}
	}()

	// (a) the spread over three.
	waitUntil(t, 10*time.Second, "all three serving", func() bool {
		for _, s := range servers {
			if len(s.executed()) == 0 {
				return false
			}
		}
		return true
	})
	before := counts(servers)
	time.Sleep(phase) // traffic runs for the phase
	spread := diff(counts(servers), before)
	total := 0
	for _, n := range spread {
		total += n
	}
	t.Logf("(a) spread over 3 in %v: %v of %d", phase, spread, total)
	for i, n := range spread {
		assert.Greater(t, n, total/6, "server %d got too little", i+1)
	}

	// (b) server 2 is SIGKILLed: its requests fail over, and it leaves
	// the set (DNS: the record is removed; etcd: the lease expires).
	killed := servers[1]
	killed.p.kill()
	b.left(killed.ip)
	okAtKill := d.ok.Load()
	gone := waitUntil(t, 30*time.Second, "killed server leaves the set", func() bool { return !has(killed) })
	t.Logf("(b) SIGKILLed server left the resolved set %v after the kill", gone)
	time.Sleep(phase / 2)
	t.Logf("(b) %d requests answered by the two others since the kill; errors so far: %d", d.ok.Load()-okAtKill, len(d.errors()))

	// (c) a fourth joins and receives within one resolve interval.
	fourth := startServer(4)
	follow := waitUntil(t, 10*time.Second, "fourth server receives", func() bool { return len(fourth.executed()) > 0 })
	t.Logf("(c) the fourth server received its first request %v after it joined (resolve interval %v)", follow, b.interval())
	assert.Less(t, follow, b.interval()+time.Second, "the fourth server waited more than a resolve interval (plus 1 s for load)")
	time.Sleep(phase / 2)

	// (d) server 1 leaves gracefully: out of the set, drained, stopped;
	// no request fails.
	leaving := servers[0]
	b.left(leaving.ip)
	require.NoError(t, leaving.p.cmd.Process.Signal(syscall.SIGTERM))
	gone = waitUntil(t, 10*time.Second, "graceful server leaves the set", func() bool { return !has(leaving) })
	t.Logf("(d) the stopping server left the resolved set %v after SIGTERM", gone)
	<-leaving.p.copied
	require.NoError(t, leaving.p.cmd.Wait(), "graceful server's exit")
	last := len(leaving.executed())
	time.Sleep(phase / 2)
	d.halt()
	stopped = true

	// Every request answered; none executed twice, except (at most) those
	// the killed server ran and could not answer before it died.
	errs := d.errors()
	assert.Empty(t, errs, "request errors")
	seen := map[string]int{}
	killedRan := map[string]bool{}
	for _, s := range []*scaleServer{servers[0], killed, servers[2], fourth} {
		for _, id := range s.executed() {
			seen[id]++
			if s == killed {
				killedRan[id] = true
			}
		}
	}
	dups, killWindow := 0, 0
	for id, n := range seen {
		if n > 1 {
			if killedRan[id] {
				killWindow++
			} else {
				dups++
			}
		}
	}
	t.Logf("requests: %d answered, %d errors, longest %v; executed twice: %d (outside the kill window), %d (the killed server's, unanswered when it died)",
		d.ok.Load(), len(errs), time.Duration(d.latency.Load()), dups, killWindow)
	assert.Zero(t, dups, "requests executed twice")
	assert.Equal(t, last, len(leaving.executed()))
	for _, s := range []*scaleServer{servers[2], fourth} {
		s.p.stop(t)
	}
}

func counts(ss []*scaleServer) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = len(s.executed())
	}
	return out
}

func diff(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dnsBackend: the servers are the A records of one name, in an
// in-process DNS server; the client resolves it every interval.
type dnsBackend struct {
	srv   *dnstest.Server
	every time.Duration
	mu    sync.Mutex
	ips   []netip.Addr
}

const scaleName = "svc.zmqguard.test"

func (b *dnsBackend) resolver(t *testing.T, port int) discovery.Resolver {
	r, err := discovery.Parse(fmt.Sprintf("dns://%s/%s:%d", b.srv.Addr(), scaleName, port),
		discovery.WithResolveInterval(b.every), discovery.WithMinResolveInterval(b.every/4))
	require.NoError(t, err)
	return r
}

// serveArgs: a server waits two resolve intervals after its record is
// gone before it drains (what a preStop hook does on Kubernetes).
func (b *dnsBackend) serveArgs() []string {
	return []string{"--drain-grace", (2 * b.every).String()}
}

func (b *dnsBackend) interval() time.Duration { return b.every }
func (b *dnsBackend) joined(ip netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ips = append(b.ips, ip)
	b.srv.SetAddrs(scaleName, b.ips...)
}
func (b *dnsBackend) left(ip netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, a := range b.ips {
		if a == ip {
			b.ips = append(b.ips[:i], b.ips[i+1:]...)
			break
		}
	}
	b.srv.SetAddrs(scaleName, b.ips...)
}

func TestScaleOutDNS(t *testing.T) {
	srv, err := dnstest.Start()
	require.NoError(t, err)
	defer srv.Close()
	runScaleOut(t, &dnsBackend{srv: srv, every: 200 * time.Millisecond})
}

// etcdBackend: the servers register themselves (serve --register) with
// a lease of 2 s; the client watches the prefix.
type etcdBackend struct {
	srv *etcdtest.Server
}

func (b *etcdBackend) resolver(t *testing.T, _ int) discovery.Resolver {
	cli, err := b.srv.Client()
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	r, err := etcd.NewResolver(cli, "/zmqguard/scale/")
	require.NoError(t, err)
	return r
}

func (b *etcdBackend) serveArgs() []string {
	return []string{"--register", "etcd://" + strings.TrimPrefix(b.srv.Endpoint(), "http://") + "/zmqguard/scale/",
		"--register-ttl", "2s", "--drain-grace", "300ms"}
}
func (b *etcdBackend) joined(netip.Addr)       {}
func (b *etcdBackend) interval() time.Duration { return 0 } // etcd pushes changes
func (b *etcdBackend) left(netip.Addr)         {}

func TestScaleOutEtcd(t *testing.T) {
	srv, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	require.NoError(t, err)
	defer srv.Stop()
	runScaleOut(t, &etcdBackend{srv: srv})
}
