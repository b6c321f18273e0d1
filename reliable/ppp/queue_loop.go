package ppp

import (
	"bytes"
	"encoding/binary"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// queueLoop is the state of a running Queue, owned by Run's goroutine.
type queueLoop struct {
	q       *Queue
	lastTag uint64 // numbers dispatches; see qWorker.tag
	workers map[string]*qWorker
	idle    []string // ready workers, least recently used first
	pending []*qJob  // requests waiting for a worker, oldest first
}

// qWorker is a worker the queue knows.
type qWorker struct {
	id   string
	busy *qJob // the request it holds, nil when ready or unknown
	// tag is the envelope frame the queue put in front of the request it
	// sent this worker. Workers echo the envelope (rfc 6), so the reply
	// carries it back: a late reply to an earlier dispatch (a request the
	// worker held before it was expired and that has since been retried)
	// carries an older tag and is dropped, never passed to the client as
	// the answer to the request the worker holds now.
	tag  []byte
	idle bool
}

// qJob is a client request: msg is what the frontend received,
// [client identity, ..., "", body...]; envelope is msg before the empty
// frame; tries counts the workers it was given to.
type qJob struct {
	msg      [][]byte
	envelope [][]byte
	tries    int
	lostOn   string // the worker it was last lost on
}

// failBack answers job with an error reply (docs/PROTOCOL.md): in ID form
// when the client sent an ID frame, else in the plain form.
func (l *queueLoop) failBack(job *qJob, code, message string) bool {
	msg := wire.Reply(job.envelope, wire.EndsWithIDFrame(job.envelope), wire.KindError, wire.EncodeErrorBody(code, message))
	if msg == nil {
		return false
	}
	return l.toClient(msg)
}

// fromClient queues a request from the frontend.
func (l *queueLoop) fromClient(msg [][]byte) {
	q := l.q
	env, _, ok := wire.SplitEnvelope(msg)
	if !ok || len(env) < 1 {
		q.ctr.malformed.Add(1) // no client envelope: nowhere to reply
		return
	}
	q.ctr.requests.Add(1)
	job := &qJob{msg: msg, envelope: env}
	if len(l.pending) >= q.cfg.maxPending {
		q.ctr.overloaded.Add(1)
		l.failBack(job, wire.CodeOverloaded, "queue full")
		return
	}
	l.pending = append(l.pending, job)
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
		l.makeIdle(w)
	case CommandHeartbeat:
		if w.busy == nil {
			l.makeIdle(w) // a worker we did not know, or idle already
		}
	case CommandRequest:
		if w.busy == nil {
			q.ctr.stale.Add(1) // its request was reassigned or failed back
			l.makeIdle(w)
			return
		}
		if len(msg) < 3 || !bytes.Equal(msg[1], w.tag) {
			// A reply to an earlier dispatch: the worker still owes the
			// reply to the request it holds now.
			q.ctr.stale.Add(1)
			return
		}
		w.busy, w.tag = nil, nil
		if l.toClient(msg[2:]) { // the worker's reply, as the worker framed it
			q.ctr.replies.Add(1)
		}
		l.makeIdle(w)
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

// toClient sends a reply on the frontend; it reports false (and counts)
// when the client is gone or not keeping up.
func (l *queueLoop) toClient(msg [][]byte) bool {
	if _, err := l.q.frontend.SendMessageDontwait(msg); err != nil {
		l.q.ctr.unroutable.Add(1)
		return false
	}
	return true
}

// dispatch gives pending requests to ready workers, least recently used
// first. Suspect workers are passed over while others are ready.
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
		l.lastTag++
		tag := binary.BigEndian.AppendUint64([]byte("zgq"), l.lastTag)
		parts := make([]interface{}, 0, 2+len(job.msg))
		parts = append(parts, []byte(id), tag)
		for _, f := range job.msg {
			parts = append(parts, f)
		}
		if _, err := q.backend.SendMessageDontwait(parts...); err != nil {
			// Unreachable (ROUTER_MANDATORY) or not keeping up: forget
			// the worker, keep the request for the next one.
			l.remove(w)
			continue
		}
		q.tr.Sent(id)
		l.pending = l.pending[1:]
		job.tries++
		w.busy, w.tag = job, tag
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

// lost retries a request whose worker died, or fails it back.
func (l *queueLoop) lost(job *qJob, worker string) {
	q := l.q
	job.lostOn = worker
	if job.tries <= q.cfg.retries {
		q.ctr.retried.Add(1)
		q.emit(QueueRequestRetried, worker)
		l.pending = append([]*qJob{job}, l.pending...)
		return
	}
	q.ctr.workerLost.Add(1)
	q.emit(QueueRequestFailed, worker)
	l.failBack(job, wire.CodeWorkerLost, "the worker died before replying")
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
		l.q.ctr.shutdown.Add(1)
		l.failBack(job, wire.CodeShutdown, "queue shutting down")
	}
	l.pending = nil
}
