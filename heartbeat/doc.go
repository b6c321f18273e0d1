// Package heartbeat tracks the liveness of peers: it folds every sign of
// life (inbound messages, Paranoid Pirate heartbeats, ZeroMQ monitor events)
// into one [State] per peer, and tells its owner when a peer needs a ping.
//
// # Model
//
// A [Tracker] keys peers by a string id chosen by the caller. Sources feed
// it through [Sink]: Observe for each inbound message (any message is proof
// of life), Sent for each outbound one, Track to start the clock on a peer
// that has not spoken yet, MarkDead when a source knows a peer is gone.
//
// A [Policy] turns silence into states. With the defaults of the zguide
// Paranoid Pirate pattern (interval 1s, liveness 3) a peer that falls
// silent is Suspect once its silence exceeds 1.5s (one missed interval,
// with half an interval of grace) and Dead once it exceeds 3s. The tracker
// times each peer exactly, on one timer for all peers, instead of ticking,
// so Dead is reported right after Interval×Liveness of silence, well within
// the Interval×Liveness + one Interval of a ticking implementation. A peer
// that sends something at least every Interval never turns Suspect. Any
// inbound traffic makes a peer Alive again.
//
//	Unknown --Observe--> Alive --silence--> Suspect --silence--> Dead
//	   |                   ^                   |                  |
//	   |                   +-----Observe-------+------------------+
//	   +--silence--> Suspect / Dead          MarkDead: any --> Dead
//
// Heartbeats go out only over idle links: the owner reports every send with
// Sent, and asks [Tracker.PingsDue] (or [Tracker.OutboundIdle]) which peers
// have had nothing sent for an Interval; [Tracker.NextPing] gives the
// deadline for its receive wait.
//
// State changes are reported as [Event] values, on a bounded channel
// ([Tracker.Events]) that drops the oldest event rather than block, and to
// callbacks ([Tracker.OnChange]); [Tracker.WaitForStateChange] blocks until
// one peer's state changes, in the style of grpc-go's connectivity API.
//
// # Concurrency
//
// A Tracker is safe for concurrent use by multiple goroutines, and none of
// its methods block on event consumers; only WaitForStateChange and Close
// wait. Observe and Sent for known peers take a read lock and one atomic
// store, so they can sit on the receive and send paths of every message.
// The tracker owns two goroutines: a timer that expires peers and a
// dispatcher that runs all OnChange callbacks, one at a time, in event
// order, outside any lock. [Tracker.Close] stops both and waits for them; it
// is idempotent. Policy, State and Event are plain values.
//
// The Tracker itself does not touch ZeroMQ: the sources that watch sockets
// feed it through Sink, so it is tested with testing/synctest alone.
//
// # Sources
//
// Native: [SetNative] sets libzmq's ZMTP heartbeat options
// (ZMQ_HEARTBEAT_IVL, _TIMEOUT, _TTL) on a socket, and a [Watcher] (see
// [Watch]) folds the socket's monitor events into a Sink: a completed
// handshake is proof of life, a disconnect (how a native heartbeat timeout
// shows) or a failed handshake makes the peer Dead. A Watcher owns one
// goroutine and the socket's monitor; Close stops both.
//
// Application: any protocol whose owner calls Observe for what it receives
// and Sent for what it sends. The Paranoid Pirate Protocol (ZeroMQ RFC 6)
// is one: its codec, worker and queue live in package reliable/ppp, on a
// Tracker each.
package heartbeat
