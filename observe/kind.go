package observe

// Component says which part of zmqguard reports an Event.
type Component uint8

// The components.
const (
	Client Component = iota + 1 // reliable.Client (and mdp.Client)
	Server                      // reliable.Server
	Queue                       // ppp.Queue
	Worker                      // ppp.Worker and mdp.Worker
	Broker                      // mdp.Broker
)

var componentNames = [...]string{Client: "client", Server: "server", Queue: "queue", Worker: "worker", Broker: "broker"}

// String names the component in lower case, e.g. "client".
func (c Component) String() string {
	if int(c) > 0 && int(c) < len(componentNames) {
		return componentNames[c]
	}
	return "unknown"
}

// Kind says what an Event reports. docs/OBSERVABILITY.md says which
// fields each kind sets.
type Kind uint8

// Request kinds (Client).
const (
	// KindAttempt: an attempt was sent to Endpoint; Attempt > 1 is a retry.
	KindAttempt Kind = iota + 1
	// KindAttemptFailed: an attempt ended without a usable reply; Outcome
	// says how (timeout, peer_gone, error) and Err why.
	KindAttemptFailed
	// KindStale: a reply to an earlier attempt or request was dropped.
	KindStale
	// KindReset: a plain-mode socket was reset after a failed attempt.
	KindReset
	// KindGiveUp: the request gave up; Err is the *reliable.NoReplyError.
	KindGiveUp
	// KindDone: a request ended; Outcome and Elapsed say how and when.
	KindDone

	// Served request kinds (Server, Worker).

	// KindHandled: a handler returned (or panicked, or overran); Outcome
	// says which, Elapsed is since the request arrived.
	KindHandled
	// KindHandlerError: a handler returned an error (Err, Code).
	KindHandlerError
	// KindPanic: a handler panicked; Err holds the panic value.
	KindPanic
	// KindHandlerTimeout: a handler overran its deadline; the client got
	// a timeout reply.
	KindHandlerTimeout
	// KindLateResult: a handler returned after its timeout reply.
	KindLateResult
	// KindCacheHit: a retry was answered from the reply cache (Name
	// "cached") or joined to its running request (Name "in_flight").
	KindCacheHit
	// KindEviction: Value cached replies were evicted early.
	KindEviction
	// KindReplyDropped: libzmq refused a reply (Err).
	KindReplyDropped
	// KindRefused: a request arrived during shutdown.
	KindRefused

	// Input kinds (Client, Server).

	// KindMalformed: an inbound message did not follow the protocol;
	// Name says how.
	KindMalformed
	// KindTooLarge: a request or reply over the size limits.
	KindTooLarge

	// Peer and connection kinds.

	// KindPeerUp: Endpoint became usable (its handshake succeeded).
	KindPeerUp
	// KindPeerDown: Endpoint was lost (Name: the heartbeat transition,
	// e.g. "suspect->dead", when a heartbeat.Tracker reports it).
	KindPeerDown
	// KindPeerSuspect: a heartbeat.Tracker has not heard from Endpoint
	// for an interval.
	KindPeerSuspect
	// KindConnected: a monitor reported a connection made to Endpoint.
	KindConnected
	// KindAccepted: a monitor reported a connection accepted on Endpoint.
	KindAccepted
	// KindDisconnected: a monitor reported a connection lost.
	KindDisconnected
	// KindConnectRetried: libzmq tried again to connect to Endpoint (a
	// reconnect).
	KindConnectRetried
	// KindHandshakeFailed: a ZMTP handshake failed (Name: "protocol",
	// "auth" or "no_detail"), e.g. a CURVE peer with a wrong key.
	KindHandshakeFailed
	// KindConnectionShed: the server dropped a connection (Name says why).
	KindConnectionShed

	// Socket kinds.

	// KindSent: a message of Value bytes went out.
	KindSent
	// KindReceived: a message of Value bytes came in.
	KindReceived
	// KindSendBlocked: a send found the socket full (EAGAIN: the HWM, or
	// no peer ready).
	KindSendBlocked

	// Worker kinds (Queue, Broker, Worker).

	// KindWorkerJoined: a worker (Endpoint: its identity) joined.
	KindWorkerJoined
	// KindWorkerLost: a worker expired or was dropped.
	KindWorkerLost
	// KindRequestRetried: a queue or broker sent a request again to
	// another worker.
	KindRequestRetried
	// KindRequestFailed: a queue or broker gave a request up.
	KindRequestFailed

	// KindBudget: one figure (Name) of the memory budget the server
	// states at start, in bytes (Value); -1 is unbounded.
	KindBudget

	kindEnd
)

var kindNames = [...]string{
	KindAttempt: "attempt", KindAttemptFailed: "attempt_failed", KindStale: "stale",
	KindReset: "reset", KindGiveUp: "give_up", KindDone: "done",
	KindHandled: "handled", KindHandlerError: "handler_error", KindPanic: "panic",
	KindHandlerTimeout: "handler_timeout", KindLateResult: "late_result", KindCacheHit: "cache_hit",
	KindEviction: "eviction", KindReplyDropped: "reply_dropped", KindRefused: "refused",
	KindMalformed: "malformed", KindTooLarge: "too_large",
	KindPeerUp: "peer_up", KindPeerDown: "peer_down", KindPeerSuspect: "peer_suspect", KindConnected: "connected",
	KindAccepted: "accepted", KindDisconnected: "disconnected", KindConnectRetried: "connect_retried",
	KindHandshakeFailed: "handshake_failed", KindConnectionShed: "connection_shed",
	KindSent: "sent", KindReceived: "received", KindSendBlocked: "send_blocked",
	KindWorkerJoined: "worker_joined", KindWorkerLost: "worker_lost",
	KindRequestRetried: "request_retried", KindRequestFailed: "request_failed",
	KindBudget: "budget",
}

// String names the kind in snake_case, e.g. "attempt_failed"; the names
// are stable (adapters use them as label values and log messages).
func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds returns every kind, in order.
func Kinds() []Kind {
	ks := make([]Kind, 0, kindEnd-1)
	for k := Kind(1); k < kindEnd; k++ {
		ks = append(ks, k)
	}
	return ks
}
