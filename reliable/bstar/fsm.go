package bstar

import (
	"errors"
	"fmt"
)

// Role says which side of the pair a server is. It is fixed by
// configuration: exactly one server of a pair is the Primary.
type Role int

const (
	// Primary is the server that is active when both start together.
	Primary Role = iota + 1
	// Backup is the server that takes over when the primary dies.
	Backup
)

// String returns "primary" or "backup".
func (r Role) String() string {
	switch r {
	case Primary:
		return "primary"
	case Backup:
		return "backup"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// State is a server's state in the Binary Star state machine (zguide
// chapter 4). The numbers are the wire values each server publishes to
// its peer, as in the zguide's bstar.
type State int

const (
	// StatePrimary: a primary that has not heard from its peer yet. It
	// serves clients.
	StatePrimary State = 1
	// StateBackup: a backup that has not heard from its peer yet. It
	// refuses clients.
	StateBackup State = 2
	// StateActive: the server that serves clients.
	StateActive State = 3
	// StatePassive: the server that refuses clients while its peer is
	// alive, and takes over when a client asks while the peer is silent.
	StatePassive State = 4
)

var stateNames = map[State]string{
	StatePrimary: "primary", StateBackup: "backup", StateActive: "active", StatePassive: "passive",
}

// String names the state.
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Input is what drives the state machine: a state heard from the peer, or
// a client request.
type Input int

const (
	// PeerPrimary: the peer published StatePrimary.
	PeerPrimary Input = Input(StatePrimary)
	// PeerBackup: the peer published StateBackup.
	PeerBackup Input = Input(StateBackup)
	// PeerActive: the peer published StateActive.
	PeerActive Input = Input(StateActive)
	// PeerPassive: the peer published StatePassive.
	PeerPassive Input = Input(StatePassive)
	// ClientRequest: a client request arrived.
	ClientRequest Input = 5
)

// String names the input.
func (in Input) String() string {
	if in == ClientRequest {
		return "client-request"
	}
	if n, ok := stateNames[State(in)]; ok {
		return "peer-" + n
	}
	return fmt.Sprintf("Input(%d)", int(in))
}

// The fatal inputs: the zguide's state machine aborts the server on them,
// because serving on would let two servers serve (split brain) or none.
var (
	// ErrDualActive: an active server heard its peer say it is active too.
	ErrDualActive = errors.New("bstar: split brain: the peer is active too")
	// ErrDualPassive: a passive server heard its peer say it is passive
	// too: nobody would serve.
	ErrDualPassive = errors.New("bstar: both servers are passive")
	// ErrSameRole: the peer announced the role this server has (two
	// primaries or two backups): the pair is misconfigured. The zguide's
	// machine ignores this; two primaries would both serve.
	ErrSameRole = errors.New("bstar: the peer has the same role: two primaries or two backups")
)

// Step is the Binary Star state machine of the zguide (chapter 4, bstar):
// given a server's role, its state and an input, it returns the next
// state, whether a client request is accepted (always false for a peer
// state), and a fatal error (one of ErrDualActive, ErrDualPassive,
// ErrSameRole, the state then unchanged).
//
// peerSilent says whether the peer's state has not been heard for the
// peer expiry; it matters only for a ClientRequest in StatePassive, which
// is the rule against split brain: the passive server takes over only
// when a client asks while the peer is silent. The transitions:
//
//	primary + peer-backup     -> active
//	primary + peer-active     -> passive
//	backup  + peer-active     -> passive
//	passive + peer-primary    -> active   (the peer restarted)
//	passive + peer-backup     -> active   (the peer restarted)
//	passive + client-request  -> active if the peer is silent, else refused
//	backup  + client-request  -> refused
//	primary, active + client-request -> accepted
//	active  + peer-active     -> ErrDualActive
//	passive + peer-passive    -> ErrDualPassive
//
// and every other input leaves the state as it is. Step keeps no state
// and is safe for concurrent use.
func Step(role Role, s State, in Input, peerSilent bool) (next State, accepted bool, err error) {
	if (in == PeerPrimary && role == Primary) || (in == PeerBackup && role == Backup) {
		return s, false, ErrSameRole
	}
	switch s {
	case StatePrimary:
		switch in {
		case PeerBackup:
			return StateActive, false, nil
		case PeerActive:
			return StatePassive, false, nil
		case ClientRequest:
			return s, true, nil
		}
	case StateBackup:
		if in == PeerActive {
			return StatePassive, false, nil
		}
	case StateActive:
		switch in {
		case PeerActive:
			return s, false, ErrDualActive
		case ClientRequest:
			return s, true, nil
		}
	case StatePassive:
		switch in {
		case PeerPrimary, PeerBackup:
			return StateActive, false, nil
		case PeerPassive:
			return s, false, ErrDualPassive
		case ClientRequest:
			if peerSilent {
				return StateActive, true, nil
			}
		}
	}
	return s, false, nil
}

// initial is the state a server of role starts in.
func initial(role Role) State {
	if role == Backup {
		return StateBackup
	}
	return StatePrimary
}
