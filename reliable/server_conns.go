package reliable

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// connWatch is a server's account of its connections, which libzmq does
// not give: it learns of each from the socket's monitor (EVENT_ACCEPTED
// and EVENT_DISCONNECTED carry its descriptor), of each request's from
// the message's "__fd" property, and of what libzmq holds for each from
// the kernel's counters of the descriptor (TCP only):
//
//   - requests libzmq holds unread (it buffers a message whole before
//     handing out any of it, and a message's frames are bounded only one
//     by one) = bytes libzmq read − bytes of the messages the server read;
//   - replies libzmq holds unsent = bytes of the replies the server sent −
//     bytes libzmq wrote (ZMTP's handshake and commands are absorbed).
//
// With that it caps the connections (refusing or evicting at the cap),
// ends a connection that makes libzmq hold more unread request bytes than
// a connection can legitimately (shutdown(2) on libzmq's descriptor:
// libzmq sees the end of the stream, drops the connection and frees what
// it held), and bounds the reply bytes queued per connection and in
// total (the serve loop drops a reply that would exceed them).
//
// It runs one goroutine, from NewServer until Serve returns or the server
// is closed. The serve loop calls known, delivered, admitReply and
// refund; everything is guarded by mu.
type connWatch struct {
	s      *Server
	mon    *zmq.Monitor
	limits connLimits

	mu      sync.Mutex
	conns   map[int]*conn    // by descriptor, including connections being shed
	byRID   map[string]*conn // by routing id (ROUTER)
	arrived []*conn          // in order of arrival: eviction candidates
	live    int              // connections not being shed
	queued  int64            // Σ conn.queued
	held    int64            // Σ conn.held at the last scan
	events  []ServerEvent    // for the serve loop to report
	ports   map[int]bool     // the server's tcp ports (resync, ours)
	paths   map[string]bool  // the server's ipc paths (ours)
	dropped uint64           // monitor events lost, as of the last resync

	scanList   []*conn // scan's buffers
	scanCounts []scanned

	// The C heap (zmq.HeapInUse): nearly all libzmq's. heapLimit is its
	// share of the budget, heapBase what was in use when the watch started,
	// heapShed the heap when the watch last shed for it (0: not since it
	// was back under the limit).
	heapLimit, heapBase, heapShed int64

	stop chan struct{}
	done chan struct{}
}

// connLimits are the bounds a connWatch enforces.
type connLimits struct {
	maxConns      int
	heldPerConn   int64 // unread request bytes a connection may make libzmq hold
	heldTotal     int64
	queuedPerConn int64 // reply bytes queued for one connection
	queuedTotal   int64
}

// How a connWatch looks, and what it forgives.
const (
	// minScan and maxScan bound the interval between two looks at every
	// connection's counters: each look costs three system calls per
	// connection, and the interval grows with their number so that
	// looking takes at most about 5 % of a core.
	minScan = 10 * time.Millisecond
	maxScan = 20 * time.Millisecond
	// handshakeAllowance is read from a connection without being part of
	// a request: the ZMTP greeting and handshake (a few hundred bytes with
	// CURVE) and commands such as heartbeats.
	handshakeAllowance = 64 << 10
	// rebaseline is how much of what a connection seems to hold is
	// forgiven each time it finishes a message: commands (heartbeats,
	// 25 bytes each at most) accumulate as read and never as delivered.
	rebaseline = 4 << 10
	// heapGrowth is the growth of its unread bytes between two looks that
	// marks a connection as feeding libzmq's memory (shedForHeap).
	heapGrowth = 16 << 10
)

// conn is one connection.
type conn struct {
	fd  int
	ino uint64 // the socket behind fd, checked before shedding
	rid string // routing id of its messages, "" until the first

	delivered int64 // wire bytes of the messages the server read from it
	msgs      int64
	seenMsgs  int64 // msgs at the last scan
	sent      int64 // wire bytes of the replies the server sent to it (charged before the send)
	outOffset int64 // max(written − sent): handshake and commands sent
	inOffset  int64 // the part of read − delivered that is not held requests

	counted     bool  // the kernel's counters were read (TCP)
	uncountable bool  // the kernel's counters cannot be read (ipc)
	held        int64 // unread request bytes libzmq held at the last scan
	grew        int64 // by how much held grew at the last scan
	queued      int64 // reply bytes libzmq held at the last scan, plus admitted since
	shed        bool  // shutdown; waiting for libzmq's EVENT_DISCONNECTED
}

// connEvents are the monitor events a connWatch needs.
const connEvents = zmq.EVENT_LISTENING | zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED

// startConnWatch starts watching s's socket. It fails when the socket
// already has a monitor (libzmq allows one).
func startConnWatch(s *Server, limits connLimits) (*connWatch, error) {
	events := connEvents
	if s.cfg.observer != nil {
		events |= observe.MonitorEvents
	}
	mon, err := s.sock.StartMonitor(events)
	if err != nil {
		return nil, err
	}
	w := &connWatch{s: s, mon: mon, limits: limits,
		conns: make(map[int]*conn), byRID: make(map[string]*conn), ports: make(map[int]bool), paths: make(map[string]bool),
		stop: make(chan struct{}), done: make(chan struct{})}
	if base, ok := zmq.HeapInUse(); ok {
		b := s.budget
		w.heapBase, w.heapLimit = base, b.Connections+b.RequestsQueued+b.RepliesQueued
	}
	if ep, err := s.sock.GetLastEndpoint(); err == nil {
		w.listening(ep) // bound before NewServer (the monitor missed it)
	}
	go w.run()
	return w, nil
}

// close stops the watch and waits for its goroutine.
func (w *connWatch) close() {
	close(w.stop)
	<-w.done
	w.mon.Close()
}

func (w *connWatch) run() {
	defer close(w.done)
	timer := time.NewTimer(minScan)
	defer timer.Stop()
	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-w.mon.Events():
			if !ok {
				<-w.stop // the socket closed; Serve stops us
				return
			}
			w.s.observeMonitor(ev)
			switch ev.Event {
			case zmq.EVENT_LISTENING:
				w.listening(ev.Addr)
			case zmq.EVENT_ACCEPTED:
				w.listening(ev.Addr)
				w.accepted(ev.Value)
			case zmq.EVENT_DISCONNECTED:
				w.disconnected(ev.Value)
			}
		case <-timer.C:
			start := time.Now()
			if n := w.mon.Dropped(); n != w.dropped {
				w.dropped = n
				w.resync()
			}
			w.scan()
			timer.Reset(min(max(20*time.Since(start), minScan), maxScan))
		}
	}
}

// accepted records a new connection, unless it was adopted already (its
// first request came before the event).
func (w *connWatch) accepted(fd int) {
	ino, ok := sockID(fd)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.conns[fd]; old != nil {
		if old.ino == ino {
			return
		}
		w.forget(old) // its EVENT_DISCONNECTED was lost
	}
	if !w.ours(fd) {
		return // closed already, the descriptor reused (see ours)
	}
	w.admit(&conn{fd: fd, ino: ino})
}

// admit counts c as live and keeps the cap, however c became known (its
// EVENT_ACCEPTED, its first request, or a resync): at the cap it sheds the
// oldest connection that has not sent a request yet (a stalled handshake,
// typically), or c itself when there is none older.
func (w *connWatch) admit(c *conn) {
	w.conns[c.fd] = c
	w.live++
	w.arrived = append(w.arrived, c)
	if w.live > w.limits.maxConns {
		victim := w.oldestIdle()
		w.s.ctr.connsRefused.Add(1)
		w.shed(victim, fmt.Sprintf("connection cap of %d reached", w.limits.maxConns))
	}
	w.s.ctr.conns.Store(int64(w.live))
}

// listening records an endpoint the server is bound to: its port (tcp)
// or path (ipc), for resync and ours. Its sources are the server's own:
// the endpoint bound when the watch starts or when Listen binds, and the
// monitor's EVENT_LISTENING and EVENT_ACCEPTED. A connection's own
// descriptor is not one: libzmq may have closed it, and the number may
// belong to another socket by now.
func (w *connWatch) listening(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if path, isIPC := strings.CutPrefix(addr, "ipc://"); isIPC {
		w.paths[path] = true
		return
	}
	i := strings.LastIndexByte(addr, ':')
	if port, err := strconv.Atoi(addr[i+1:]); i >= 0 && err == nil {
		w.ports[port] = true
	}
}

// ours reports whether fd's socket is one the server accepted, as far as
// its address tells: the local end of a connection accepted on a tcp or
// ipc endpoint is the listener's port or path. A descriptor whose
// connection libzmq closed may have been reused by another socket of the
// process (an outgoing connection, another server's), which the watch
// must neither measure nor shed; so may a socket of another kind, which
// it refuses. While it knows none of the server's endpoints, it cannot
// tell, and says yes. Called with w.mu held.
func (w *connWatch) ours(fd int) bool {
	if len(w.ports) == 0 && len(w.paths) == 0 {
		return true
	}
	port, path, ok := localAddr(fd)
	switch {
	case !ok:
		return false
	case port >= 0:
		return w.ports[port]
	default:
		return w.paths[path]
	}
}

// adopt records a connection the watch had not heard of, unless its
// descriptor is not the server's (see ours).
func (w *connWatch) adopt(fd int) *conn {
	ino, ok := sockID(fd)
	if !ok || !w.ours(fd) {
		return nil
	}
	c := &conn{fd: fd, ino: ino}
	w.admit(c)
	return c
}

// resync rebuilds the account from the process's descriptors after the
// monitor lost events (its channel was full): connections accepted on the
// server's ports that it does not know are adopted, and the ones whose
// descriptor no longer is theirs are forgotten. Without it, a connection
// whose EVENT_ACCEPTED was lost would go unmeasured until it sent a
// request.
func (w *connWatch) resync() {
	w.mu.Lock()
	ports := make([]int, 0, len(w.ports))
	for p := range w.ports {
		ports = append(ports, p)
	}
	w.mu.Unlock()
	found := acceptedSockets(ports)
	w.mu.Lock()
	defer w.mu.Unlock()
	for fd, c := range w.conns {
		if ino, ok := found[fd]; !ok || ino != c.ino {
			w.forget(c)
		}
	}
	for fd, ino := range found {
		if c := w.conns[fd]; c == nil || c.ino != ino {
			w.adopt(fd)
		}
	}
}

// oldestIdle returns the oldest live connection that has not sent a
// request, dropping the ones that no longer qualify from the queue.
func (w *connWatch) oldestIdle() *conn {
	for len(w.arrived) > 0 {
		c := w.arrived[0]
		w.arrived[0] = nil
		w.arrived = w.arrived[1:]
		if !c.shed && c.msgs == 0 && w.conns[c.fd] == c {
			return c
		}
	}
	return nil
}

func (w *connWatch) disconnected(fd int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.conns[fd]; c != nil {
		w.forget(c)
	}
}

// forget removes c from the account.
func (w *connWatch) forget(c *conn) {
	delete(w.conns, c.fd)
	if c.rid != "" && w.byRID[c.rid] == c {
		delete(w.byRID, c.rid)
	}
	if !c.shed {
		w.live--
	}
	w.queued -= c.queued
	w.s.ctr.conns.Store(int64(w.live))
}

// shed ends c: shutdown(2) on libzmq's descriptor, after checking that it
// is still c's socket. libzmq then drops the connection (and its queued
// messages) and reports EVENT_DISCONNECTED, which forgets it.
func (w *connWatch) shed(c *conn, why string) {
	if c.shed {
		return
	}
	if ino, ok := sockID(c.fd); !ok || ino != c.ino {
		w.forget(c) // libzmq closed it already
		return
	}
	if err := shedSock(c.fd); err != nil {
		return
	}
	c.shed = true
	w.live--
	w.s.ctr.conns.Store(int64(w.live))
	w.events = append(w.events, ServerEvent{Kind: ServerEventConnectionShed, Message: why})
}

// known reports whether rid is the routing id of a connection the watch
// has seen a message from.
func (w *connWatch) known(rid []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byRID[string(rid)] != nil
}

// delivered accounts a message the serve loop read.
func (w *connWatch) delivered(r received) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var c *conn
	switch {
	case r.fd >= 0:
		if c = w.conns[r.fd]; c == nil {
			c = w.adopt(r.fd) // its EVENT_ACCEPTED was lost, or is on its way
		}
	case !w.s.rep && len(r.msg) > 0:
		c = w.byRID[string(r.msg[0])] // known: recvRequest did not ask
	}
	if c == nil {
		return
	}
	if !w.s.rep && len(r.msg) > 0 {
		rid := string(r.msg[0])
		switch {
		case c.rid == "":
			c.rid = rid
			w.byRID[rid] = c
		case c.rid != rid:
			return // not this connection's: the descriptor was reused
		}
	}
	c.delivered += r.wire
	c.msgs++
}

// admitReply reports whether a reply of wire bytes to the connection of
// routing id rid fits the reply queue bounds, and if so charges it at
// once, before it is sent: a scan between the send and a later charge
// would take the reply, already written, for ZMTP commands and count it
// against the connection for good. The estimate is an upper bound (what
// libzmq held at the last look, plus what was admitted since); when it
// says no, the connection is looked at again before the reply is
// refused. A reply admitted but not sent is refunded.
func (w *connWatch) admitReply(rid []byte, wire int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.byRID[string(rid)]
	if c == nil || c.uncountable {
		return true // unknown (inproc, not seen yet) or not TCP: not bounded here
	}
	if !c.counted {
		// Not looked at yet: look now, before the first reply.
		cnt, ok := readSockCounters(c.fd)
		if !ok {
			c.uncountable = true
			return true
		}
		c.counted = true
		w.measureOut(c, cnt)
	}
	lim := w.limits
	over := func() bool {
		return c.queued+wire > lim.queuedPerConn || w.queued+wire > lim.queuedTotal
	}
	if over() {
		if cnt, ok := readSockCounters(c.fd); ok {
			w.measureOut(c, cnt)
		}
		if over() {
			return false
		}
	}
	w.chargeLocked(c, wire)
	return true
}

// refund takes back the charge of a reply admitted but not sent. A reply
// admitReply let through uncharged (connection unknown or not TCP) finds
// nothing to take back: chargeLocked keeps the counts at zero or above.
func (w *connWatch) refund(rid []byte, wire int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.byRID[string(rid)]; c != nil {
		w.chargeLocked(c, -wire)
	}
}

// chargeLocked accounts wire reply bytes to c (negative: a refund).
func (w *connWatch) chargeLocked(c *conn, wire int64) {
	c.sent += wire
	q := max(c.queued+wire, 0)
	w.queued += q - c.queued
	c.queued = q
}

// measureOut updates c's queued reply bytes from the kernel's counters.
func (w *connWatch) measureOut(c *conn, cnt sockCounters) {
	if off := cnt.written - c.sent; off > c.outOffset {
		c.outOffset = off
	}
	q := max(c.sent+c.outOffset-cnt.written, 0)
	w.queued += q - c.queued
	c.queued = q
}

// scan reads every connection's counters, ends the ones holding more
// unread request bytes than allowed, then, while libzmq holds more than
// the total allowed, the ones holding the most.
func (w *connWatch) scan() {
	// The system calls run without the lock, which the serve loop takes
	// for every request and reply.
	w.mu.Lock()
	list := w.scanList[:0]
	for _, c := range w.conns {
		if !c.shed && !c.uncountable {
			list = append(list, c)
		}
	}
	w.mu.Unlock()
	counts := w.scanCounts[:0]
	for _, c := range list {
		cnt, ok := readSockCounters(c.fd)
		counts = append(counts, scanned{cnt, ok})
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	lim := w.limits
	var heavy []*conn
	w.held = 0
	for i, c := range list {
		if c.shed || w.conns[c.fd] != c {
			continue // dropped meanwhile
		}
		cnt, ok := counts[i].cnt, counts[i].ok
		c.counted = ok
		if !ok {
			c.uncountable = true // not TCP (or gone: its event will tell)
			continue
		}
		w.measureOut(c, cnt)
		held := cnt.read - c.delivered - c.inOffset - handshakeAllowance
		if c.msgs > c.seenMsgs {
			// It finished a message since the last look, so what
			// libzmq holds for it now started after that: requests it
			// has sent in the meantime, and commands (heartbeats)
			// that count as read but never as delivered. Absorb a
			// little of it, so that commands do not add up over a
			// connection's life.
			c.inOffset += min(max(held, 0), rebaseline)
			held = cnt.read - c.delivered - c.inOffset - handshakeAllowance
			c.seenMsgs = c.msgs
		}
		held = max(held, 0)
		c.grew, c.held = held-c.held, held
		if c.held > lim.heldPerConn {
			w.s.ctr.connsShed.Add(1)
			w.shed(c, fmt.Sprintf("libzmq held %d bytes of its unread requests, over the limit of %d", c.held, lim.heldPerConn))
			continue
		}
		w.held += c.held
		if c.held > 0 {
			heavy = append(heavy, c)
		}
	}
	if w.held > lim.heldTotal {
		sort.Slice(heavy, func(i, j int) bool { return heavy[i].held > heavy[j].held })
		for _, c := range heavy {
			if w.held <= lim.heldTotal {
				break
			}
			w.held -= c.held
			w.s.ctr.connsShed.Add(1)
			w.shed(c, fmt.Sprintf("libzmq held %d bytes of unread requests in all, over the limit of %d; this connection held %d", w.held+c.held, lim.heldTotal, c.held))
		}
	}
	w.shedForHeap(list)
	w.s.ctr.heldBytes.Store(w.held)
	w.s.ctr.queuedBytes.Store(w.queued)
	// Keep only eviction candidates: live connections without a request.
	kept := w.arrived[:0]
	for _, c := range w.arrived {
		if !c.shed && c.msgs == 0 && w.conns[c.fd] == c {
			kept = append(kept, c)
		}
	}
	clear(w.arrived[len(kept):])
	w.arrived = kept
	clear(list)
	w.scanList, w.scanCounts = list[:0], counts[:0]
}

// shedForHeap sheds connections while libzmq's memory is over its share
// of the budget. The byte counts above bound what libzmq reads; its
// memory can be many times that: it keeps 64 bytes for each frame besides
// the frame's data, so a request of empty frames (2 bytes each on the
// wire) costs 32 times its size. The C heap tells what libzmq holds. When
// it is over the limit and growing, the connections whose unread bytes
// grew since the last look are dropped (no connection can be told to
// hold more than another), or, when none grew, the one holding the most.
func (w *connWatch) shedForHeap(list []*conn) {
	if w.heapLimit <= 0 {
		return
	}
	heap, ok := zmq.HeapInUse()
	if !ok {
		return
	}
	over := heap - w.heapBase - w.heapLimit
	if over <= 0 {
		w.heapShed = 0
		return
	}
	if w.heapShed > 0 && heap <= w.heapShed {
		return // what was shed is being freed
	}
	why := fmt.Sprintf("libzmq's memory (the C heap) was %d bytes over its limit of %d", over, w.heapLimit)
	var biggest *conn
	shed := false
	for _, c := range list {
		if c.shed || !c.counted || w.conns[c.fd] != c {
			continue
		}
		if c.grew >= heapGrowth {
			w.s.ctr.connsShed.Add(1)
			w.shed(c, why)
			shed = true
		} else if c.held > 0 && (biggest == nil || c.held > biggest.held) {
			biggest = c
		}
	}
	if !shed && biggest != nil {
		w.s.ctr.connsShed.Add(1)
		w.shed(biggest, why)
		shed = true
	}
	if shed {
		w.heapShed = heap
	}
}

// scanned is one connection's counters, read by scan.
type scanned struct {
	cnt sockCounters
	ok  bool
}

// takeEvents returns the events to report.
func (w *connWatch) takeEvents() []ServerEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	evs := w.events
	w.events = nil
	return evs
}

// ErrReplyQueueFull is the Err of a ServerEventReplyDropped for a reply
// dropped because the reply queue bounds (WithReplyQueue) were reached.
var ErrReplyQueueFull = errors.New("reliable: reply queue full")

// limitMemory fits the limits to WithMemoryBudget, lowers the connection
// cap to what the file limit leaves, and states the budget.
func (s *Server) limitMemory() error {
	if room := connRoom(); room < s.cfg.maxConns {
		s.cfg.maxConns = max(room, 1)
	}
	if err := s.cfg.fitBudget(); err != nil {
		return err
	}
	s.budget = s.cfg.budget()
	return nil
}

// Budget returns the server's memory budget: its worst case, derived
// from its limits (see MemoryBudget). Enforced is false when the
// connection watch could not start (the socket already had a monitor):
// the server then neither caps nor measures its connections.
func (s *Server) Budget() MemoryBudget { return s.budget }

// watchConns starts the connection watch, unless the socket already has a
// monitor (libzmq allows one).
func (s *Server) watchConns() {
	if !watchSupported {
		return
	}
	w, err := startConnWatch(s, s.cfg.connLimits())
	s.budget.Enforced = err == nil
	if err == nil {
		s.conns = w
	}
}

// stopWatch stops the connection watch before the socket closes.
func (s *Server) stopWatch() {
	if s.conns != nil {
		s.conns.close()
	}
}

// connEvents reports what the connection watch did.
func (l *serverLoop) connEvents() {
	if l.conns == nil {
		return
	}
	for _, ev := range l.conns.takeEvents() {
		l.emit(ev)
	}
}

// replyWire is what a reply takes on the wire: its frames after the
// routing id, framed.
func (l *serverLoop) replyWire(frames [][]byte) int64 {
	var n int64
	for _, f := range frames[1:] {
		n += l.frameWire(len(f))
	}
	return n
}

// replyFits reports whether a reply fits the reply queue bounds, and
// charges it to its connection if so; one that does not is dropped and
// counted.
func (l *serverLoop) replyFits(env, frames [][]byte) bool {
	if !l.replyBounded(env, frames) {
		return true
	}
	if l.conns.admitReply(env[0], l.replyWire(frames)) {
		return true
	}
	l.s.ctr.repliesDropped.Add(1)
	l.s.ctr.overQueue.Add(1)
	l.emit(ServerEvent{Kind: ServerEventReplyDropped, ID: idOf(env, wire.EndsWithIDFrame(env)), Err: ErrReplyQueueFull})
	return false
}

// replyUnsent refunds the charge of a reply that fit but was not sent.
func (l *serverLoop) replyUnsent(env, frames [][]byte) {
	if l.replyBounded(env, frames) {
		l.conns.refund(env[0], l.replyWire(frames))
	}
}

// replyBounded reports whether the reply queue bounds apply to a reply.
func (l *serverLoop) replyBounded(env, frames [][]byte) bool {
	return l.conns != nil && !l.s.rep && len(env) > 0 && len(frames) >= 2
}
