package heartbeat

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Default values that [Policy.WithDefaults] puts into zero fields. They are
// those of the zguide Paranoid Pirate pattern (ZeroMQ RFC 6).
const (
	// DefaultInterval is the heartbeat interval.
	DefaultInterval = time.Second
	// DefaultLiveness is the number of silent intervals after which a peer
	// is Dead.
	DefaultLiveness = 3
	// DefaultSuspectAfter is the number of missed intervals after which a
	// peer is Suspect.
	DefaultSuspectAfter = 1
)

// Policy says how often peers are expected to speak and how much silence
// makes them Suspect or Dead. Any inbound message counts, not only
// heartbeats.
//
// With the defaults (1s, liveness 3, suspect after 1), a peer that stops
// talking becomes Suspect after 1.5s and Dead after 3s of silence.
//
// A zero field means its default (see [Policy.WithDefaults]); the zero
// Policy is valid. A Policy is a plain value, safe for concurrent use when
// nobody writes to it.
type Policy struct {
	// Interval is how often each side is expected to send something: the
	// owner of a Tracker sends a heartbeat to a peer when nothing else was
	// sent to it for an Interval (see Tracker.PingsDue). Zero means
	// DefaultInterval; negative is invalid.
	Interval time.Duration
	// Liveness is the number of intervals without any inbound traffic after
	// which a peer is Dead: silence longer than Liveness×Interval. Zero
	// means DefaultLiveness; negative is invalid. Liveness 1 leaves no room
	// for network delay; use at least 2.
	Liveness int
	// SuspectAfter is the number of missed intervals after which a silent
	// peer is Suspect. An interval counts as missed only after half an
	// interval of grace for network and scheduling delay, so that a peer
	// heartbeating every Interval never flaps: the peer is Suspect once its
	// silence exceeds (SuspectAfter + 1/2)×Interval. Zero means
	// DefaultSuspectAfter; it must not exceed Liveness, and SuspectAfter
	// equal to Liveness turns the Suspect state off.
	SuspectAfter int
}

// WithDefaults returns a copy of p with every zero field replaced by its
// default. Non-zero fields, even invalid ones, are kept.
func (p Policy) WithDefaults() Policy {
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.Liveness == 0 {
		p.Liveness = DefaultLiveness
	}
	if p.SuspectAfter == 0 {
		p.SuspectAfter = DefaultSuspectAfter
	}
	return p
}

// Validate reports why p, once zero fields are filled by
// [Policy.WithDefaults], is not usable, or nil if it is. The returned error
// joins every problem found.
func (p Policy) Validate() error {
	p = p.WithDefaults()
	var errs []error
	if p.Interval < 0 {
		errs = append(errs, fmt.Errorf("heartbeat: negative Interval %v", p.Interval))
	}
	if p.Liveness < 0 {
		errs = append(errs, fmt.Errorf("heartbeat: negative Liveness %d", p.Liveness))
	}
	if p.SuspectAfter < 0 {
		errs = append(errs, fmt.Errorf("heartbeat: negative SuspectAfter %d", p.SuspectAfter))
	} else if p.SuspectAfter > p.Liveness {
		errs = append(errs, fmt.Errorf("heartbeat: SuspectAfter %d exceeds Liveness %d", p.SuspectAfter, p.Liveness))
	}
	// Deadlines are computed as offsets from the tracker's start; keep
	// Liveness×Interval well inside an int64 of nanoseconds (~146 years).
	if p.Interval > 0 && p.Liveness > 0 && int64(p.Liveness) > maxSilence/int64(p.Interval) {
		errs = append(errs, fmt.Errorf("heartbeat: Liveness %d × Interval %v is too long", p.Liveness, p.Interval))
	}
	return errors.Join(errs...)
}

// maxSilence bounds Liveness×Interval so that deadline arithmetic cannot
// overflow.
const maxSilence = math.MaxInt64 / 2

// deadAfter is the silence beyond which a peer is Dead.
func (p Policy) deadAfter() time.Duration {
	return time.Duration(p.Liveness) * p.Interval
}

// suspectAfter is the silence beyond which a peer is Suspect, and whether
// the Suspect state is in use at all.
func (p Policy) suspectAfter() (time.Duration, bool) {
	if p.SuspectAfter >= p.Liveness {
		return 0, false
	}
	return time.Duration(p.SuspectAfter)*p.Interval + p.Interval/2, true
}
