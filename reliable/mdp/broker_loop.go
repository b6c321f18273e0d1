package mdp

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// maxBatch bounds the messages the loop takes before it looks at its
// timers (heartbeats, expired workers, service waits) again.
const maxBatch = 256

// tagLen is the length of the dispatch tag that starts the client address
// the broker gives a worker (see brokerLoop.dispatch).
const tagLen = 8

// brokerLoop is the state of a running Broker, owned by Run's goroutine.
type brokerLoop struct {
	b          *Broker
	sock       *zmq.Socket
	workers    map[string]*bWorker
	services   map[string]*service
	starving   map[*service]struct{} // services without workers, with requests waiting
	lastTag    uint64                // numbers dispatches
	held       int64                 // bytes of the request bodies held
	graceUntil time.Time             // no CodeNoService before then
	due        []string
}

// service is a service name with its workers and waiting requests.
type service struct {
	name       string
	idle       []*bWorker // ready workers, least recently used first
	queue      []*request // waiting requests, oldest first (retried ones in front)
	workers    int
	emptySince time.Time // when it last had no worker
}

// bWorker is a worker the broker knows.
type bWorker struct {
	id   string
	rid  []byte // id, as the routing frame
	svc  *service
	busy *request // the request it holds
	// tag numbers the dispatch of busy. It starts the client address the
	// worker echoes in its REPLY, so a late reply to an earlier dispatch
	// (a request retried elsewhere) is told apart and dropped.
	tag  uint64
	idle bool
}

// request is a client request held by the broker.
type request struct {
	svc     *service
	client  []byte // the client's routing id
	body    [][]byte
	size    int64
	arrived time.Time
	tries   int    // workers it was given to
	lostOn  string // the worker it was last lost on
}

func newBrokerLoop(b *Broker, start time.Time) *brokerLoop {
	return &brokerLoop{
		b: b, sock: b.sock,
		workers:  make(map[string]*bWorker),
		services: make(map[string]*service),
		starving: make(map[*service]struct{}),
		// A worker registered with the broker before it restarted sends
		// its next HEARTBEAT within two intervals (the zguide's worker
		// heartbeats after a poll of one interval), is told DISCONNECT and
		// registers again.
		graceUntil: start.Add(2 * b.cfg.interval),
	}
}

// run reads and handles messages until ctx ends (nil) or the socket
// fails.
func (l *brokerLoop) run(ctx context.Context) error {
	for {
		for range maxBatch {
			msg, err := l.sock.RecvMessageBytes(zmq.DONTWAIT)
			if errors.Is(err, syscall.EAGAIN) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			l.handle(msg)
		}
		now := time.Now()
		l.housekeeping(now)
		_, err := timeout.WaitUntil(ctx, l.sock, l.nextWake(now), zmq.POLLIN)
		if ctx.Err() != nil {
			return nil
		}
		var te *zmq.TimeoutError
		if err != nil && !errors.As(err, &te) {
			return err
		}
	}
}

// handle dispatches one message: [sender, "", header, ...].
func (l *brokerLoop) handle(msg [][]byte) {
	if len(msg) < 3 || len(msg[1]) != 0 {
		l.b.ctr.malformed.Add(1)
		return
	}
	switch string(msg[2]) {
	case ClientHeader:
		l.fromClient(msg[0], msg)
	case WorkerHeader:
		l.fromWorker(msg[0], msg)
	default:
		l.b.ctr.malformed.Add(1)
	}
}

// fromClient takes a client request: [client, "", "MDPC01", service, body...].
func (l *brokerLoop) fromClient(client []byte, msg [][]byte) {
	b := l.b
	b.ctr.requests.Add(1)
	name, body, err := ParseClientMessage(msg[1:])
	if err != nil {
		b.ctr.malformed.Add(1)
		if len(msg) > 3 { // there is a service frame to answer with
			l.refuse(client, string(msg[3]), wire.CodeMalformed, err.Error())
		}
		return
	}
	if p := b.cfg.pair; p != nil && !p.Admit() {
		b.ctr.refused.Add(1)
		l.refuse(client, name, wire.CodePassive, "this broker is passive: its Binary Star peer is active")
		return
	}
	if strings.HasPrefix(name, MMIPrefix) {
		l.mmi(client, name, body)
		return
	}
	var size int64
	for _, f := range body {
		size += int64(len(f))
	}
	svc := l.service(name)
	switch {
	case svc == nil:
		b.ctr.overloaded.Add(1)
		l.refuse(client, name, wire.CodeOverloaded, "too many services")
		return
	case len(svc.queue) >= b.cfg.serviceQueue:
		b.ctr.overloaded.Add(1)
		l.refuse(client, name, wire.CodeOverloaded, "too many requests waiting for the service")
		l.forgetIfUnused(svc)
		return
	case l.held+size > b.cfg.queueBytes:
		b.ctr.overloaded.Add(1)
		l.refuse(client, name, wire.CodeOverloaded, "the broker holds too many bytes")
		l.forgetIfUnused(svc)
		return
	}
	req := &request{svc: svc, client: client, body: body, size: size, arrived: time.Now()}
	l.hold(req)
	l.enqueue(req, false)
	l.dispatch(svc)
}

// mmi answers a management request (RFC 8).
func (l *brokerLoop) mmi(client []byte, name string, body [][]byte) {
	l.b.ctr.mmi.Add(1)
	code := MMINotImplemented
	if name == MMIService {
		code = MMINotFound
		// The service name is the body's last frame, as in the zguide.
		if svc := l.services[string(body[len(body)-1])]; svc != nil && svc.workers > 0 {
			code = MMIFound
		}
	}
	l.toClient(client, name, [][]byte{[]byte(code)})
}

// fromWorker takes a worker message: [worker, "", "MDPW01", command, ...].
func (l *brokerLoop) fromWorker(sender []byte, msg [][]byte) {
	b := l.b
	m, err := ParseWorkerMessage(msg[1:])
	if err != nil {
		b.ctr.malformed.Add(1)
		return
	}
	id := string(sender)
	w := l.workers[id]
	if w == nil && m.Command != CommandReady {
		// A worker the broker does not know (it expired, or the broker
		// restarted) must register again (RFC 7).
		if m.Command != CommandDisconnect {
			l.disconnect(id)
		}
		return
	}
	if m.Command != CommandDisconnect {
		b.tr.Observe(id)
	}
	switch m.Command {
	case CommandReady:
		if w != nil { // not the first command of the session: a protocol error
			l.drop(w, BrokerWorkerDisconnected)
			l.disconnect(id)
			return
		}
		l.join(id, m.Service)
	case CommandReply:
		l.reply(w, m)
	case CommandHeartbeat:
	case CommandDisconnect:
		l.drop(w, BrokerWorkerDisconnected)
	default: // a REQUEST from a worker
		b.ctr.malformed.Add(1)
	}
}

// join registers a worker for a service.
func (l *brokerLoop) join(id, name string) {
	b := l.b
	var svc *service
	if !strings.HasPrefix(name, MMIPrefix) && len(l.workers) < b.cfg.maxWorkers {
		svc = l.service(name)
	}
	if svc == nil {
		b.tr.Forget(id)
		l.disconnect(id)
		return
	}
	w := &bWorker{id: id, rid: []byte(id), svc: svc}
	l.workers[id] = w
	svc.workers++
	b.ctr.workers.Add(1)
	delete(l.starving, svc)
	b.emit(BrokerEvent{Kind: BrokerWorkerJoined, Worker: id, Service: name})
	l.makeIdle(w)
	l.dispatch(svc)
}

// reply forwards a worker's reply to the client that waits for it.
func (l *brokerLoop) reply(w *bWorker, m WorkerMessage) {
	b := l.b
	req := w.busy
	if req == nil || len(m.Client) <= tagLen || binary.BigEndian.Uint64(m.Client) != w.tag {
		// A reply to an earlier dispatch, whose request was retried or
		// failed back: the client must not get it.
		b.ctr.stale.Add(1)
		return
	}
	w.busy = nil
	l.release(req)
	if l.toClient(req.client, req.svc.name, m.Body) {
		b.ctr.replies.Add(1)
	}
	l.makeIdle(w)
	l.dispatch(w.svc)
}

// service returns the service called name, creating it unless the broker
// knows too many; nil then.
func (l *brokerLoop) service(name string) *service {
	if svc := l.services[name]; svc != nil {
		return svc
	}
	if len(l.services) >= l.b.cfg.maxServices {
		return nil
	}
	svc := &service{name: name, emptySince: time.Now()}
	l.services[name] = svc
	l.b.ctr.services.Add(1)
	return svc
}

// forgetIfUnused forgets a service with neither workers nor requests, so
// that requests for names nobody serves do not fill the table.
func (l *brokerLoop) forgetIfUnused(svc *service) {
	if svc.workers == 0 && len(svc.queue) == 0 {
		delete(l.services, svc.name)
		delete(l.starving, svc)
		l.b.ctr.services.Add(-1)
	}
}

func (l *brokerLoop) hold(req *request) {
	l.held += req.size
	l.b.ctr.held.Store(l.held)
}

func (l *brokerLoop) release(req *request) {
	l.held -= req.size
	l.b.ctr.held.Store(l.held)
}

// enqueue puts a request in its service's queue: at the back, or in front
// for a request whose worker died.
func (l *brokerLoop) enqueue(req *request, front bool) {
	svc := req.svc
	if front {
		svc.queue = append([]*request{req}, svc.queue...)
	} else {
		svc.queue = append(svc.queue, req)
	}
	l.b.ctr.waiting.Add(1)
	if svc.workers == 0 {
		l.starving[svc] = struct{}{}
	}
}

func (l *brokerLoop) makeIdle(w *bWorker) {
	if !w.idle {
		w.idle = true
		w.svc.idle = append(w.svc.idle, w)
	}
}

// dispatch gives the service's waiting requests to its ready workers,
// least recently used first. The client address the worker gets is the
// dispatch's tag followed by the client's routing id.
func (l *brokerLoop) dispatch(svc *service) {
	b := l.b
	for len(svc.queue) > 0 && len(svc.idle) > 0 {
		req := svc.queue[0]
		i := l.choose(svc, req)
		w := svc.idle[i]
		svc.idle = append(svc.idle[:i], svc.idle[i+1:]...)
		w.idle = false
		l.lastTag++
		addr := binary.BigEndian.AppendUint64(make([]byte, 0, tagLen+len(req.client)), l.lastTag)
		addr = append(addr, req.client...)
		msg := make([][]byte, 0, 6+len(req.body))
		msg = append(msg, w.rid)
		msg = append(msg, WorkerMessage{Command: CommandRequest, Client: addr, Body: req.body}.Frames()...)
		if _, err := l.sock.SendMessageDontwait(msg); err != nil {
			// Unreachable (ROUTER_MANDATORY) or not keeping up: forget
			// the worker, keep the request for the next one.
			b.ctr.unroutable.Add(1)
			l.remove(w, BrokerWorkerExpired)
			continue
		}
		b.tr.Sent(w.id)
		svc.queue[0] = nil
		svc.queue = svc.queue[1:]
		b.ctr.waiting.Add(-1)
		req.tries++
		w.busy, w.tag = req, l.lastTag
	}
}

// choose returns the index in svc.idle of the worker for req: the least
// recently used one that is not Suspect and is not the worker req was
// lost on (it may be alive after all, with the request in hand), else the
// least recently used one that is not Suspect, else the first.
func (l *brokerLoop) choose(svc *service, req *request) int {
	fallback := -1
	for i, w := range svc.idle {
		if l.b.tr.State(w.id) == heartbeat.Suspect {
			continue
		}
		if w.id != req.lostOn {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return max(fallback, 0)
}

// remove forgets a worker, counted as kind, and puts its request back in
// the queue (or fails it back). It does not dispatch.
func (l *brokerLoop) remove(w *bWorker, kind BrokerEventKind) {
	b := l.b
	svc := w.svc
	if w.idle {
		for i, x := range svc.idle {
			if x == w {
				svc.idle = append(svc.idle[:i], svc.idle[i+1:]...)
				break
			}
		}
		w.idle = false
	}
	delete(l.workers, w.id)
	b.tr.Forget(w.id)
	b.ctr.workers.Add(-1)
	if kind == BrokerWorkerExpired {
		b.ctr.expired.Add(1)
	} else {
		b.ctr.disconnected.Add(1)
	}
	b.emit(BrokerEvent{Kind: kind, Worker: w.id, Service: svc.name})
	svc.workers--
	if svc.workers == 0 {
		svc.emptySince = time.Now()
	}
	if req := w.busy; req != nil {
		w.busy = nil
		l.lost(req, w.id)
	}
	if svc.workers == 0 && len(svc.queue) > 0 {
		l.starving[svc] = struct{}{}
	}
}

// drop forgets a worker (see remove), gives its rescued request to
// another worker, and forgets its service if nothing is left of it.
func (l *brokerLoop) drop(w *bWorker, kind BrokerEventKind) {
	l.remove(w, kind)
	l.dispatch(w.svc)
	l.forgetIfUnused(w.svc)
}

// lost gives a request whose worker died to another worker, or fails it
// back once it is out of retries.
func (l *brokerLoop) lost(req *request, worker string) {
	b := l.b
	req.lostOn = worker
	if req.tries <= b.cfg.retries {
		b.ctr.retried.Add(1)
		b.emit(BrokerEvent{Kind: BrokerRequestRetried, Worker: worker, Service: req.svc.name})
		l.enqueue(req, true)
		return
	}
	b.ctr.workerLost.Add(1)
	l.release(req)
	l.failRequest(req, wire.CodeWorkerLost, "the worker died before replying")
}

// failRequest answers a held request with an error reply.
func (l *brokerLoop) failRequest(req *request, code, message string) {
	l.refuse(req.client, req.svc.name, code, message)
}

// refuse answers a client's request for service name with an error reply,
// and reports it.
func (l *brokerLoop) refuse(client []byte, name, code, message string) {
	l.b.emit(BrokerEvent{Kind: BrokerRequestFailed, Service: name, Code: code})
	l.failBack(client, name, code, message)
}

// failBack sends a client an error reply: an MDP reply whose body is
// [wire.PlainErrorMarker, code, message].
func (l *brokerLoop) failBack(client []byte, name, code, message string) {
	l.toClient(client, name, wire.Reply(nil, false, wire.KindError, wire.EncodeErrorBody(code, message)))
}

// toClient sends [client, "", "MDPC01", service, body...]; it reports
// false (and counts) when the client is gone or not keeping up.
func (l *brokerLoop) toClient(client []byte, name string, body [][]byte) bool {
	msg := make([][]byte, 0, 1+len(body)+3)
	msg = append(msg, client)
	msg = append(msg, ClientRequest(name, body)...)
	if _, err := l.sock.SendMessageDontwait(msg); err != nil {
		l.b.ctr.unroutable.Add(1)
		return false
	}
	return true
}

// disconnect sends DISCONNECT to a worker.
func (l *brokerLoop) disconnect(id string) {
	msg := append([][]byte{[]byte(id)}, WorkerMessage{Command: CommandDisconnect}.Frames()...)
	if _, err := l.sock.SendMessageDontwait(msg); err != nil {
		l.b.ctr.unroutable.Add(1)
	}
}

// housekeeping forgets dead workers, heartbeats idle links and answers
// the requests whose service wait is over.
func (l *brokerLoop) housekeeping(now time.Time) {
	b := l.b
	for _, id := range b.takeDead() {
		if w := l.workers[id]; w != nil && b.tr.State(id) == heartbeat.Dead {
			l.drop(w, BrokerWorkerExpired)
		}
	}
	l.due = b.tr.PingsDue(l.due[:0])
	hb := WorkerMessage{Command: CommandHeartbeat}.Frames()
	for _, id := range l.due {
		w := l.workers[id]
		if w == nil {
			continue // not one of ours (a shared tracker)
		}
		if _, err := l.sock.SendMessageDontwait(append([][]byte{w.rid}, hb...)); err != nil {
			b.ctr.unroutable.Add(1)
			l.drop(w, BrokerWorkerExpired) // its connection is gone
			continue
		}
		b.tr.Sent(id)
	}
	for svc := range l.starving {
		for len(svc.queue) > 0 && !now.Before(l.waitOver(svc.queue[0])) {
			req := svc.queue[0]
			svc.queue[0] = nil
			svc.queue = svc.queue[1:]
			b.ctr.waiting.Add(-1)
			b.ctr.noService.Add(1)
			l.release(req)
			l.failRequest(req, wire.CodeNoService, "no worker for service "+svc.name)
		}
		if len(svc.queue) == 0 {
			delete(l.starving, svc)
			l.forgetIfUnused(svc)
		}
	}
}

// waitOver is when a request waiting for a service without workers is
// answered with CodeNoService: the service wait after it arrived or after
// the service lost its last worker, whichever is later, and not before
// the grace after the broker started.
func (l *brokerLoop) waitOver(req *request) time.Time {
	from := req.arrived
	if req.svc.emptySince.After(from) {
		from = req.svc.emptySince
	}
	at := from.Add(l.b.cfg.serviceWait)
	if at.Before(l.graceUntil) {
		return l.graceUntil
	}
	return at
}

// nextWake is when the loop must look at its timers again.
func (l *brokerLoop) nextWake(now time.Time) time.Time {
	next := now.Add(l.b.cfg.interval)
	// After housekeeping no ping of the broker's own is past due; one that
	// is belongs to another owner of a shared tracker (WithBrokerTracker),
	// and must not make the loop spin.
	if at, ok := l.b.tr.NextPing(); ok && at.Before(next) {
		next = at
		if floor := now.Add(l.b.cfg.interval / 16); next.Before(floor) {
			next = floor
		}
	}
	for svc := range l.starving {
		if at := l.waitOver(svc.queue[0]); at.Before(next) {
			next = at
		}
	}
	if l.b.hasDead.Load() {
		next = now
	}
	return next
}

// shutdown answers every request the broker holds with CodeShutdown and
// sends every worker DISCONNECT.
func (l *brokerLoop) shutdown() {
	b := l.b
	for id, w := range l.workers {
		if req := w.busy; req != nil {
			b.ctr.shutdown.Add(1)
			l.release(req)
			l.failRequest(req, wire.CodeShutdown, "broker shutting down")
		}
		l.disconnect(id)
		b.tr.Forget(id)
	}
	for _, svc := range l.services {
		for _, req := range svc.queue {
			b.ctr.shutdown.Add(1)
			l.release(req)
			l.failRequest(req, wire.CodeShutdown, "broker shutting down")
		}
	}
	b.ctr.waiting.Store(0)
	b.ctr.workers.Store(0)
	b.ctr.services.Store(0)
}
