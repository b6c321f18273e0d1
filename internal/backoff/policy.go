package backoff

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Default values that [Policy.WithDefaults] puts into zero fields.
const (
	// DefaultInitial is the delay before the first retry.
	DefaultInitial = 100 * time.Millisecond
	// DefaultMax is the cap on the delay before jitter.
	DefaultMax = 5 * time.Second
	// DefaultMultiplier is the growth factor from one attempt to the next.
	DefaultMultiplier = 2.0
)

// Policy describes capped exponential backoff with jitter. The delay before
// retry number attempt (0 for the first retry) is
//
//	min(Initial * Multiplier^attempt, Max) * (1 + Jitter*(2*rnd-1))
//
// where rnd in [0, 1) comes from the caller.
//
// A zero field means "use the default" (see [Policy.WithDefaults]), except
// Jitter, whose zero value means no jitter. The zero Policy is therefore
// valid: 100ms doubling to 5s, without jitter.
//
// A Policy is a plain value and safe for concurrent use (see the package
// documentation).
type Policy struct {
	// Initial is the delay before the first retry (attempt 0).
	// Zero means DefaultInitial; negative is invalid.
	Initial time.Duration
	// Max caps the delay before jitter is applied. Zero means the larger of
	// DefaultMax and Initial; it must not be less than Initial.
	Max time.Duration
	// Multiplier is the growth factor between consecutive attempts. Zero
	// means DefaultMultiplier; 1 gives a constant delay; values below 1,
	// NaN and infinities are invalid.
	Multiplier float64
	// Jitter spreads each delay uniformly over ±Jitter of its value, so that
	// many clients retrying at once do not retry in lock-step. It must lie
	// in [0, 1]; zero means no jitter.
	Jitter float64
}

// Default is the general-purpose policy: 100ms doubling to 5s, with ±20%
// jitter.
var Default = Policy{
	Initial:    DefaultInitial,
	Max:        DefaultMax,
	Multiplier: DefaultMultiplier,
	Jitter:     0.2,
}

// PPPWorker is the reconnect policy of the zguide Paranoid Pirate worker
// (ZeroMQ RFC 6): 1s doubling to 32s, without jitter.
var PPPWorker = Policy{
	Initial:    time.Second,
	Max:        32 * time.Second,
	Multiplier: 2,
}

// WithDefaults returns a copy of p with every zero field replaced by its
// default: Initial by DefaultInitial, Multiplier by DefaultMultiplier and Max
// by the larger of DefaultMax and Initial. Jitter is left alone because zero
// is a meaningful value for it. Non-zero fields, even invalid ones, are kept.
func (p Policy) WithDefaults() Policy {
	if p.Initial == 0 {
		p.Initial = DefaultInitial
	}
	if p.Max == 0 {
		p.Max = max(DefaultMax, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultMultiplier
	}
	return p
}

// Validate reports why p, once zero fields are filled by
// [Policy.WithDefaults], is not a usable policy, or nil if it is. The
// returned error joins every problem found.
func (p Policy) Validate() error {
	p = p.WithDefaults()
	var errs []error
	if p.Initial < 0 {
		errs = append(errs, fmt.Errorf("backoff: negative Initial %v", p.Initial))
	}
	if p.Max < p.Initial {
		errs = append(errs, fmt.Errorf("backoff: Max %v is less than Initial %v", p.Max, p.Initial))
	}
	if math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0) || p.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("backoff: Multiplier %v is not a finite number >= 1", p.Multiplier))
	}
	if math.IsNaN(p.Jitter) || p.Jitter < 0 || p.Jitter > 1 {
		errs = append(errs, fmt.Errorf("backoff: Jitter %v is not in [0, 1]", p.Jitter))
	}
	return errors.Join(errs...)
}
