package heartbeat

import "strconv"

// State is the liveness of one peer as seen by a [Tracker].
//
// The zero value is Unknown. The healthy states are Unknown (tracked but
// never heard from, or not tracked) and Alive; silence makes a peer Suspect
// and then Dead; any inbound traffic makes it Alive again.
type State int

const (
	// Unknown means nothing has been heard from the peer since tracking
	// started, or the peer is not tracked at all.
	Unknown State = iota
	// Alive means inbound traffic arrived recently enough.
	Alive
	// Suspect means the peer has missed Policy.SuspectAfter intervals. It is
	// an early warning (stop routing new work to the peer, say), not a
	// verdict: the peer may still come back.
	Suspect
	// Dead means the peer has been silent for Policy.Liveness intervals, or a
	// source reported it gone (Tracker.MarkDead). It stays Dead until it is
	// heard from again or forgotten.
	Dead
)

// String returns "unknown", "alive", "suspect" or "dead", or "State(n)" for
// a value outside the defined constants.
func (s State) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// severity orders states by how bad they are; silence only ever moves a
// peer to a more severe state.
func (s State) severity() int {
	switch s {
	case Suspect:
		return 1
	case Dead:
		return 2
	}
	return 0
}
