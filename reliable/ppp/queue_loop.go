package ppp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// queueLoop is the state of a running Queue, owned by Run's goroutine.
type queueLoop struct {
	q       *Queue
	self    uint64 // the Client field of the queue's dispatch tokens
	last    uint64 // numbers dispatches: the Seq field of their tokens
	workers map[string]*qWorker
	idle    []string // ready workers, least recently used first
	pending []*qJob  // requests waiting for a worker, oldest first
	// deadlines holds a deadline per dispatch, in dispatch order (they
	// all have the same timeout); entries whose dispatch was answered or
	// rescued are skipped when they come first.
	deadlines []deadline
	// held is every request the queue holds, waiting or at a worker, by
	// its key (requestKey): a client's retry of one of them is merged
	// into it instead of running again.
	held map[string]*qJob
	// probes are the times at which to probe the workers (probe),
	// soonest first.
	probes []time.Time
}

// deadline is when worker w must have answered dispatch.
type deadline struct {
	w        *qWorker
	dispatch uint64
	at       time.Time
}

// qWorker is a worker the queue knows.
type qWorker struct {
	id   string
	busy *qJob // the request it holds, nil when ready or unknown
	// dispatch numbers the request the worker holds (or last held): the
	// token the queue sent it in place of the client's envelope carries
	// it, and a reply carrying another number is a late reply to an
	// earlier dispatch, dropped as stale.
	dispatch uint64
	idle     bool
	// stuck is set when the worker held a request past the request
	// timeout: it is out of rotation until it replies (that reply is
	// stale) or says READY.
	stuck bool
}

// qJob is a client request: envelope is where its reply goes (the client's
// routing id, any hops and, for a correlated client, its ID frame), body
// what the worker gets; tries counts the workers it was given to.
type qJob struct {
	envelope   [][]byte
	body       [][]byte
	correlated bool   // envelope ends with an ID frame
	key        string // names the request across the client's retries (requestKey)
	attempt    uint32 // a correlated client's attempt that envelope answers
	tries      int
	lostOn     string // the worker it was last lost on
	// abandoned is set when the plain client sent another request: it
	// waits no more for this one, which is not run again, and whose reply
	// is dropped.
	abandoned bool
}

// requestKey names the request a client sent with envelope env across
// the client's retries, and returns a correlated request's attempt. A
// correlated request is named by its ID frame's (client, seq). A plain
// request is named by its client: the envelope, whose last frame (the
// client's routing id) counts by its client part when it is a zmqguard
// client's (each of its sockets has an id of its own, wire.ClientRoutingID).
// A plain client has one request in flight, so the key names its latest.
func requestKey(env [][]byte) (key string, attempt uint32) {
	last := env[len(env)-1]
	if id, kind, err := wire.ParseIDFrame(last); err == nil && kind == wire.KindRequest {
		k := make([]byte, 1, 17)
		k[0] = 'c'
		k = binary.BigEndian.AppendUint64(k, id.Client)
		return string(binary.BigEndian.AppendUint64(k, id.Seq)), id.Attempt
	}
	k := []byte{'p'}
	for _, f := range env[:len(env)-1] {
		k = binary.AppendUvarint(k, uint64(len(f)))
		k = append(k, f...)
	}
	if client, ok := wire.ParseClientRoutingID(last); ok {
		return string(binary.BigEndian.AppendUint64(append(k, 'z'), client)), 0
	}
	return string(append(append(k, 'r'), last...)), 0
}

// failBack answers the request job with an error reply (docs/PROTOCOL.md):
// in ID form for a correlated client, in the plain form for a plain
// client that takes error replies, and not at all for one that does not
// (counted as withheld).
func (l *queueLoop) failBack(job *qJob, code, message string) {
	l.done(job)
	l.replyTo(job, wire.KindError, wire.EncodeErrorBody(code, message))
}

// done forgets a request the queue no longer holds.
func (l *queueLoop) done(job *qJob) {
	if l.held[job.key] == job {
		delete(l.held, job.key)
	}
}

// abandon drops a request whose plain client sent another one: a waiting
// one never runs, a running one's reply will be dropped.
func (l *queueLoop) abandon(job *qJob) {
	l.done(job)
	job.abandoned = true
	l.q.ctr.abandoned.Add(1)
	for i, p := range l.pending {
		if p == job {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			return
		}
	}
}

// replyTo sends job's client the reply body of kind (wire.KindReply or
// wire.KindError, whose body is [code, message]), framed by wire.Reply. It
// reports whether the reply was sent.
func (l *queueLoop) replyTo(job *qJob, kind wire.Kind, body [][]byte) bool {
	msg := wire.Reply(job.envelope, job.correlated && kind == wire.KindError, kind, body)
	if msg == nil {
		l.q.ctr.withheld.Add(1)
		return false
	}
	if _, err := l.q.frontend.SendMessageDontwait(msg); err != nil {
		l.q.ctr.unroutable.Add(1) // the client is gone or not keeping up
		return false
	}
	return true
}

// fromClient queues a request from the frontend: [client routing id,
// hops..., (ID frame,) "", body...].
func (l *queueLoop) fromClient(msg [][]byte) {
	q := l.q
	env, body, ok := wire.SplitEnvelope(msg)
	if !ok || len(env) < 1 {
		q.ctr.malformed.Add(1) // no client envelope: nowhere to reply
		return
	}
	q.ctr.requests.Add(1)
	job := &qJob{envelope: env, body: body, correlated: wire.EndsWithIDFrame(env)}
	job.key, job.attempt = requestKey(env)
	if len(body) == 0 {
		q.ctr.malformed.Add(1)
		l.failBack(job, wire.CodeMalformed, "request has no body frames")
		return
	}
	if p := q.cfg.pair; p != nil && !p.Admit() {
		q.ctr.refused.Add(1)
		l.failBack(job, wire.CodePassive, "this queue is passive: its Binary Star peer is active")
		return
	}
	if old := l.held[job.key]; old != nil {
		// A correlated client's retry, or a plain client's identical
		// request, of a request the queue still holds: the client waits
		// for its newest attempt, so the one execution's reply goes there.
		if job.correlated || bodiesEqual(old.body, body) {
			if !job.correlated || job.attempt > old.attempt {
				old.envelope, old.attempt = env, job.attempt
			}
			q.ctr.merged.Add(1)
			return
		}
		l.abandon(old) // the plain client moved on
	}
	if len(l.pending) >= q.cfg.maxPending {
		q.ctr.overloaded.Add(1)
		l.failBack(job, wire.CodeOverloaded, "queue full")
		return
	}
	l.held[job.key] = job
	l.pending = append(l.pending, job)
}

func bodiesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// fromWorker handles a message from the backend: [worker, PPP message...].
func (l *queueLoop) fromWorker(msg [][]byte) {
	q := l.q
	if len(msg) < 2 {
		q.ctr.malformed.Add(1)
		return
	}
	id := string(msg[0])
	cmd, err := Parse(msg[1:])
	if err != nil {
		q.ctr.malformed.Add(1)
		return
	}
	q.tr.Observe(id)
	w := l.workers[id]
	if w == nil {
		w = &qWorker{id: id}
		l.workers[id] = w
		q.ctr.workers.Add(1)
		q.emit(QueueWorkerJoined, id)
	}
	switch cmd {
	case CommandReady:
		if w.busy != nil { // the worker restarted under the same identity
			job := w.busy
			w.busy = nil
			l.lost(job, id)
		}
		l.unstick(w)
		l.makeIdle(w)
	case CommandHeartbeat:
		if w.busy == nil && !w.stuck {
			l.makeIdle(w) // a worker we did not know, or idle already
		}
	case CommandRequest:
		l.reply(w, msg[1:])
	}
}

// reply handles a worker's reply, [token, "", body...] (rfc 6: the worker
// echoes the address frame it was given).
func (l *queueLoop) reply(w *qWorker, msg [][]byte) {
	q := l.q
	env, body, ok := wire.SplitEnvelope(msg)
	var token wire.RequestID
	var kind wire.Kind
	var err error
	if ok && len(env) == 1 {
		token, kind, err = wire.ParseIDFrame(env[0])
	}
	if !ok || len(env) != 1 || err != nil || token.Client != l.self {
		// Not an answer to anything we sent: the worker still owes the
		// reply to what it holds.
		q.ctr.malformed.Add(1)
		return
	}
	if w.busy == nil || token.Seq != w.dispatch {
		// A reply to an earlier dispatch, whose request was reassigned or
		// failed back: never the answer to what the worker holds now.
		q.ctr.stale.Add(1)
		if w.busy == nil {
			l.unstick(w) // it answered what it held past the timeout
			l.makeIdle(w)
		}
		return
	}
	job := w.busy
	w.busy = nil
	l.done(job)
	if kind != wire.KindError {
		kind = wire.KindReply // an echo (rfc 6) or a zmqguard worker's reply
	}
	// Count first, so that a client holding its reply never sees Stats
	// lag; a reply not sent is taken back out.
	q.ctr.replies.Add(1)
	if job.abandoned || !l.replyTo(job, kind, body) {
		q.ctr.replies.Add(^uint64(0))
	}
	l.makeIdle(w)
}

// unstick takes a worker that held a request past the request timeout
// back into rotation.
func (l *queueLoop) unstick(w *qWorker) {
	if w.stuck {
		w.stuck = false
		l.q.ctr.stuck.Add(-1)
	}
}

func (l *queueLoop) makeIdle(w *qWorker) {
	if w.idle {
		return
	}
	w.idle = true
	l.idle = append(l.idle, w.id)
	l.q.ctr.idle.Add(1)
}

// dispatch gives pending requests to ready workers, least recently used
// first. Suspect workers are passed over while others are ready. A worker
// gets [token, "", body...]: one opaque address frame, as rfc 6 workers
// expect (zguide's accept exactly [address, "", body]), in place of the
// client's envelope, which the queue keeps. The token is an ID frame
// (docs/PROTOCOL.md) naming this queue and the dispatch, so a zmqguard
// worker frames its error replies in ID form, and a late reply to an
// earlier dispatch is told apart from the one the worker owes now.
func (l *queueLoop) dispatch() {
	q := l.q
	for len(l.pending) > 0 && len(l.idle) > 0 {
		job := l.pending[0]
		i := l.choose(job)
		id := l.idle[i]
		l.idle = append(l.idle[:i], l.idle[i+1:]...)
		q.ctr.idle.Add(-1)
		w := l.workers[id]
		w.idle = false
		l.last++
		token := wire.RequestID{Client: l.self, Seq: l.last, Attempt: uint32(job.tries + 1)}
		parts := make([][]byte, 0, 4+len(job.body))
		parts = append(parts, []byte(id))
		if carried, ok := wire.TraceOf(job.envelope); ok && q.cfg.passTrace {
			parts = append(parts, wire.AppendTraceFrame(nil, carried))
		}
		parts = append(parts, token.AppendFrame(nil, wire.KindRequest), []byte{})
		parts = append(parts, job.body...)
		if _, err := q.backend.SendMessageDontwait(parts); err != nil {
			// Unreachable (ROUTER_MANDATORY) or not keeping up: forget
			// the worker, keep the request for the next one.
			l.remove(w)
			continue
		}
		q.tr.Sent(id)
		l.pending = l.pending[1:]
		job.tries++
		w.busy, w.dispatch = job, l.last
		if d := q.cfg.requestTimeout; d > 0 {
			l.deadlines = append(l.deadlines, deadline{w: w, dispatch: l.last, at: time.Now().Add(d)})
		}
	}
}

// nextDeadline returns the first deadline of a request a worker still
// holds, dropping the ones before it.
func (l *queueLoop) nextDeadline() (time.Time, bool) {
	for len(l.deadlines) > 0 {
		d := l.deadlines[0]
		if d.w.busy != nil && d.w.dispatch == d.dispatch && l.workers[d.w.id] == d.w {
			return d.at, true
		}
		l.deadlines[0] = deadline{}
		l.deadlines = l.deadlines[1:]
	}
	return time.Time{}, false
}

// expire takes back the requests workers have held past the request
// timeout: each is retried on another worker or failed back with
// wire.CodeTimeout, and the worker is out of rotation until it replies or
// says READY.
func (l *queueLoop) expire(now time.Time) {
	q := l.q
	for {
		at, ok := l.nextDeadline()
		if !ok || now.Before(at) {
			return
		}
		w := l.deadlines[0].w
		l.deadlines = l.deadlines[1:]
		job := w.busy
		w.busy = nil
		w.stuck = true
		q.ctr.stuck.Add(1)
		q.ctr.overdue.Add(1)
		q.emit(QueueWorkerStuck, w.id)
		l.rescue(job, w.id, wire.CodeTimeout, fmt.Sprintf("no reply from a worker within %v", q.cfg.requestTimeout), &q.ctr.timedOut)
	}
}

// choose returns the index in l.idle of the worker for job: the least
// recently used one that is not Suspect and is not the worker job was
// lost on (which may be alive after all, with the request still in hand),
// else the least recently used one that is not Suspect, else the first.
func (l *queueLoop) choose(job *qJob) int {
	fallback := -1
	for i, id := range l.idle {
		if l.q.tr.State(id) == heartbeat.Suspect {
			continue
		}
		if id != job.lostOn {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return max(fallback, 0)
}

// reap forgets the workers the tracker declared Dead and rescues their
// requests.
func (l *queueLoop) reap() {
	q := l.q
	q.deadMu.Lock()
	dead := q.dead
	q.dead = nil
	q.deadMu.Unlock()
	for _, id := range dead {
		w := l.workers[id]
		if w == nil || q.tr.State(id) != heartbeat.Dead {
			continue // already gone, or heard from since
		}
		l.remove(w) // rescues its request
	}
}

// remove forgets a worker.
func (l *queueLoop) remove(w *qWorker) {
	q := l.q
	if w.idle {
		for i, id := range l.idle {
			if id == w.id {
				l.idle = append(l.idle[:i], l.idle[i+1:]...)
				break
			}
		}
		q.ctr.idle.Add(-1)
	}
	l.unstick(w)
	delete(l.workers, w.id)
	q.tr.Forget(w.id)
	q.ctr.workers.Add(-1)
	q.ctr.expired.Add(1)
	q.emit(QueueWorkerExpired, w.id)
	if w.busy != nil {
		job := w.busy
		w.busy = nil
		l.lost(job, w.id)
	}
}

// lost retries a request whose worker died, or fails it back with
// wire.CodeWorkerLost.
func (l *queueLoop) lost(job *qJob, worker string) {
	l.rescue(job, worker, wire.CodeWorkerLost, "the worker died before replying", &l.q.ctr.workerLost)
}

// rescue gives a request that worker did not answer to another worker,
// ahead of newer requests, while it has retries left; else it counts it
// in failed and fails it back with code and message.
func (l *queueLoop) rescue(job *qJob, worker, code, message string, failed *atomic.Uint64) {
	q := l.q
	if job.abandoned {
		return // its client waits no more
	}
	job.lostOn = worker
	if job.tries <= q.cfg.retries {
		q.ctr.retried.Add(1)
		q.emit(QueueRequestRetried, worker)
		l.pending = append([]*qJob{job}, l.pending...)
		return
	}
	failed.Add(1) // before the reply: a client holding it never sees Stats lag
	q.emit(QueueRequestFailed, worker)
	l.failBack(job, code, message)
}

// shutdown fails back every request the queue holds.
func (l *queueLoop) shutdown() {
	var jobs []*qJob
	for _, w := range l.workers {
		if w.busy != nil {
			jobs = append(jobs, w.busy)
		}
	}
	jobs = append(jobs, l.pending...)
	for _, job := range jobs {
		if job.abandoned {
			continue
		}
		l.q.ctr.shutdown.Add(1)
		l.failBack(job, wire.CodeShutdown, "queue shutting down")
	}
	l.pending = nil
}

// probeSoon asks for the workers to be probed now and twice more
// shortly: a worker's connection just closed (a backend disconnect
// event), and libzmq forgets a peer a moment after it reports the
// disconnect.
func (l *queueLoop) probeSoon(now time.Time) {
	l.probes = append(l.probes[:0], now, now.Add(10*time.Millisecond), now.Add(100*time.Millisecond))
}

// nextProbe returns when the next probe is due.
func (l *queueLoop) nextProbe() (time.Time, bool) {
	if len(l.probes) == 0 {
		return time.Time{}, false
	}
	return l.probes[0], true
}

// probe runs the probes that are due: it sends every worker a HEARTBEAT
// (harmless to any rfc 6 worker). The backend's ROUTER_MANDATORY refuses
// it with EHOSTUNREACH for a worker whose connection is gone, and the
// worker is forgotten and its request rescued at once, not when its
// heartbeats are missed (liveness × interval later, after a Lazy Pirate
// client has resent).
func (l *queueLoop) probe(now time.Time) {
	n := 0
	for n < len(l.probes) && !now.Before(l.probes[n]) {
		n++
	}
	if n == 0 {
		return
	}
	l.probes = l.probes[n:]
	for _, w := range l.workers {
		l.heartbeat(w)
	}
}

// heartbeat sends w a HEARTBEAT, and forgets w (rescuing its request)
// when its connection is gone.
func (l *queueLoop) heartbeat(w *qWorker) {
	q := l.q
	_, err := q.backend.SendMessageDontwait([]byte(w.id), []byte{HeartbeatByte})
	switch {
	case err == nil:
		q.tr.Sent(w.id)
	case errors.Is(err, syscall.EHOSTUNREACH):
		q.ctr.disconnected.Add(1)
		l.remove(w)
	}
}
