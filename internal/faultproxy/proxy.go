package faultproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections from Addr to an upstream TCP address.
type Proxy struct {
	ln       net.Listener
	upstream string

	latency   atomic.Int64 // time.Duration added to every chunk
	bandwidth atomic.Int64 // bytes per second per direction, 0 = unlimited
	blackhole atomic.Bool

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup

	stats Stats
}

// Stats counts what the proxy did.
type Stats struct {
	Accepted     atomic.Int64 // client connections accepted
	DialFailures atomic.Int64 // upstream dials that failed (the client was reset)
	Resets       atomic.Int64 // connections reset by ResetAll or a lifted blackhole
	Dropped      atomic.Int64 // bytes dropped by the blackhole
	Forwarded    atomic.Int64 // bytes forwarded
}

// New listens on 127.0.0.1 (a free port) and forwards to upstream
// ("host:port").
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients connect to ("127.0.0.1:port").
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stats returns the proxy's counters.
func (p *Proxy) Stats() *Stats { return &p.stats }

// SetLatency delays every chunk of data by d in each direction (0: none).
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetBandwidth limits each direction of each connection to bytesPerSec
// (0: unlimited).
func (p *Proxy) SetBandwidth(bytesPerSec int) { p.bandwidth.Store(int64(bytesPerSec)) }

// SetBlackhole turns the silent blackhole on or off. While on, connections
// stay open and accept data, but every byte in either direction is
// dropped, and new connections are accepted and treated the same. Turning
// it off resets every connection that lost data (its stream is broken).
func (p *Proxy) SetBlackhole(on bool) {
	p.blackhole.Store(on)
	if on {
		return
	}
	p.mu.Lock()
	var broken []*link
	for l := range p.links {
		if l.tainted.Load() {
			broken = append(broken, l)
		}
	}
	p.mu.Unlock()
	for _, l := range broken {
		p.stats.Resets.Add(1)
		l.close(true)
	}
}

// ResetAll resets every open connection (TCP RST to both sides) and
// returns how many there were.
func (p *Proxy) ResetAll() int {
	p.mu.Lock()
	ls := make([]*link, 0, len(p.links))
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		p.stats.Resets.Add(1)
		l.close(true)
	}
	return len(ls)
}

// Close stops listening, resets every connection and waits for the
// proxy's goroutines. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends: back off
			continue
		}
		p.stats.Accepted.Add(1)
		up, err := net.DialTimeout("tcp", p.upstream, time.Second)
		if err != nil {
			p.stats.DialFailures.Add(1)
			reset(c)
			continue
		}
		l := &link{p: p, down: c, up: up, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			reset(c)
			reset(up)
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(4)
		p.mu.Unlock()
		l.start()
	}
}

// reset closes c with SO_LINGER 0: the peer gets an RST, not a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// link is one proxied connection: down is the client's side, up the
// server's. Each direction has a reader and a writer goroutine joined by a
// queue of timestamped chunks, so latency delays data without throttling
// it.
type link struct {
	p        *Proxy
	down, up net.Conn
	tainted  atomic.Bool // lost bytes to the blackhole
	once     sync.Once
	done     chan struct{}
}

type chunk struct {
	data []byte
	due  time.Time
}

func (l *link) start() {
	for _, dir := range [][2]net.Conn{{l.down, l.up}, {l.up, l.down}} {
		q := make(chan chunk, 256)
		go l.read(dir[0], q)
		go l.write(dir[1], q)
	}
}

func (l *link) close(rst bool) {
	l.once.Do(func() {
		if rst {
			reset(l.down)
			reset(l.up)
		} else {
			l.down.Close()
			l.up.Close()
		}
		close(l.done)
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

func (l *link) read(src net.Conn, q chan<- chunk) {
	defer l.p.wg.Done()
	defer close(q)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if l.p.blackhole.Load() {
				l.tainted.Store(true)
				l.p.stats.Dropped.Add(int64(n))
			} else {
				c := chunk{data: append([]byte(nil), buf[:n]...),
					due: time.Now().Add(time.Duration(l.p.latency.Load()))}
				select {
				case q <- c:
				case <-l.done:
					return
				}
			}
		}
		if err != nil {
			l.close(false)
			return
		}
	}
}

func (l *link) write(dst net.Conn, q <-chan chunk) {
	defer l.p.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-l.done:
				return
			}
		}
		if bw := l.p.bandwidth.Load(); bw > 0 {
			// Pace: the chunk takes len/bw to go through the link.
			t.Reset(time.Duration(int64(len(c.data)) * int64(time.Second) / bw))
			select {
			case <-t.C:
			case <-l.done:
				return
			}
		}
		if l.p.blackhole.Load() {
			l.tainted.Store(true)
			l.p.stats.Dropped.Add(int64(len(c.data)))
			continue
		}
		if _, err := dst.Write(c.data); err != nil {
			l.close(false)
			return
		}
		l.p.stats.Forwarded.Add(int64(len(c.data)))
	}
}
