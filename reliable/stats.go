package reliable

import (
	"sync/atomic"
	"time"
)

// ClientStats counts what a Client did. Read it with Client.Stats.
type ClientStats struct {
	Requests     uint64 // calls to Request
	Attempts     uint64 // attempts sent to a peer
	Replies      uint64 // requests answered (including remote errors)
	RemoteErrors uint64 // answers that were error replies
	Timeouts     uint64 // attempts that timed out
	FailedFast   uint64 // attempts ended early because their peer was gone (ErrPeerGone)
	Resets       uint64 // sockets reset (plain mode; a socket a half-sent message broke)
	StaleDropped uint64 // replies dropped: late answers to earlier attempts or requests
	Malformed    uint64 // inbound messages that did not follow the protocol
	GiveUps      uint64 // requests that returned a *NoReplyError
	TooLarge     uint64 // requests refused and replies rejected for their size (ErrTooLarge)
}

type clientCounters struct {
	requests, attempts, replies, remoteErrors, timeouts, failedFast,
	resets, stale, malformed, giveUps, tooLarge atomic.Uint64
}

func (c *clientCounters) snapshot() ClientStats {
	return ClientStats{
		Requests: c.requests.Load(), Attempts: c.attempts.Load(), Replies: c.replies.Load(),
		RemoteErrors: c.remoteErrors.Load(), Timeouts: c.timeouts.Load(), FailedFast: c.failedFast.Load(),
		Resets: c.resets.Load(), StaleDropped: c.stale.Load(), Malformed: c.malformed.Load(),
		GiveUps: c.giveUps.Load(), TooLarge: c.tooLarge.Load(),
	}
}

// EventKind says what a ClientEvent reports.
type EventKind int

const (
	// EventAttempt: an attempt was sent to Endpoint (Elapsed includes any
	// wait for a connected peer).
	EventAttempt EventKind = iota + 1
	// EventReply: the attempt got its reply (possibly an error reply).
	EventReply
	// EventAttemptFailed: the attempt failed (Err says why); the request
	// may be retried.
	EventAttemptFailed
	// EventReset: the plain-mode socket was reset.
	EventReset
	// EventStale: a stale reply was dropped.
	EventStale
	// EventGiveUp: the request gave up (Err is the *NoReplyError).
	EventGiveUp
)

var eventNames = map[EventKind]string{
	EventAttempt: "attempt", EventReply: "reply", EventAttemptFailed: "attempt-failed",
	EventReset: "reset", EventStale: "stale", EventGiveUp: "give-up",
}

// String names the kind.
func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return "unknown"
}

// ClientEvent is passed to the hook set with WithEventHook.
type ClientEvent struct {
	Kind     EventKind     // what happened
	Seq      uint64        // the request's sequence number
	Attempt  int           // the attempt number, from 1
	Endpoint string        // the endpoint of the attempt
	Err      error         // why an attempt failed or the request gave up
	Elapsed  time.Duration // since the request started
}
