package backoff

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Policy describes capped exponential backoff with jitter. The delay before
// retry number attempt (0 for the first retry) is
//
//	min(Initial * Multiplier^attempt, Max) * (1 + Jitter*(2*rnd-1))
//
// where rnd in [0, 1) comes from the caller.
//
// Fields mean what they say; the package has no defaults of its own. A
// component with defaults fills the fields its user left zero with
// [Policy.Fill], then checks the result with [Policy.Validate].
//
// A Policy is a plain value and safe for concurrent use (see the package
// documentation).
type Policy struct {
	// Initial is the delay before the first retry (attempt 0). It must not
	// be negative.
	Initial time.Duration
	// Max caps the delay before jitter is applied. It must not be less
	// than Initial.
	Max time.Duration
	// Multiplier is the growth factor between consecutive attempts: 1
	// gives a constant delay; values below 1, NaN and infinities are
	// invalid.
	Multiplier float64
	// Jitter spreads each delay uniformly over ±Jitter of its value, so that
	// many clients retrying at once do not retry in lock-step. It must lie
	// in [0, 1]; zero means no jitter.
	Jitter float64
}

// Fill returns p with its zero fields taken from def, the defaults of the
// component that uses it, and a negative Jitter set to 0 (no jitter):
//
//   - zero Initial: def.Initial, or Max when Max is set and smaller;
//   - zero Max: def.Max, or Initial when that is larger;
//   - zero Multiplier: def.Multiplier;
//   - zero Jitter: def.Jitter; negative Jitter: 0.
//
// Other fields, even invalid ones, are kept for Validate to report.
func (p Policy) Fill(def Policy) Policy {
	if p.Initial == 0 {
		p.Initial = def.Initial
		if p.Max > 0 {
			p.Initial = min(p.Initial, p.Max)
		}
	}
	if p.Max == 0 {
		p.Max = max(def.Max, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = def.Multiplier
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = def.Jitter
	case p.Jitter < 0:
		p.Jitter = 0
	}
	return p
}

// Validate reports why p is not a usable policy, or nil if it is. The
// returned error joins every problem found.
func (p Policy) Validate() error {
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
