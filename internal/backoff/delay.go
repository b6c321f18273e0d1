package backoff

import (
	"math"
	"time"
)

// maxDuration is the largest time.Duration, as a float64 (2^63, one more
// than the largest Duration, since float64 cannot hold 2^63-1).
const maxDuration = float64(math.MaxInt64)

// Delay returns how long to wait before retry number attempt, where attempt
// 0 is the first retry, and rnd is a random number in [0, 1) supplied by the
// caller (for example math/rand/v2.Float64). rnd 0.5 means "no jitter";
// rnd 0 gives the shortest delay, values near 1 the longest.
//
// Delay is pure: the same arguments always give the same result. Before
// jitter, the delay is non-decreasing in attempt and never exceeds Max, even
// for attempt numbers so large that Initial*Multiplier^attempt overflows.
// The result is never negative and never exceeds Max*(1+Jitter) (nor the
// largest time.Duration).
//
// Delay never panics, even on a policy that fails [Policy.Validate]:
// negative durations count as zero, a Multiplier below 1 (or NaN) as 1,
// and Jitter is clamped to [0, 1]. A negative attempt counts as 0, and rnd
// is clamped to [0, 1] (NaN counts as 0.5).
func (p Policy) Delay(attempt int, rnd float64) time.Duration {
	p = p.sanitized()
	base := p.base(attempt)
	if p.Jitter == 0 {
		return base
	}
	switch {
	case math.IsNaN(rnd):
		rnd = 0.5
	case rnd < 0:
		rnd = 0
	case rnd > 1:
		rnd = 1
	}
	d := float64(base) * (1 + p.Jitter*(2*rnd-1))
	limit := float64(p.Max) * (1 + p.Jitter)
	return toDuration(min(d, limit))
}

// base returns the delay before jitter: min(Initial*Multiplier^attempt, Max).
func (p Policy) base(attempt int) time.Duration {
	if attempt <= 0 || p.Multiplier == 1 || p.Initial >= p.Max {
		return min(p.Initial, p.Max)
	}
	if p.Initial == 0 {
		return 0
	}
	// Compare in the log domain first so that huge attempt numbers neither
	// overflow nor cost anything.
	if float64(attempt)*math.Log(p.Multiplier) >= math.Log(float64(p.Max)/float64(p.Initial)) {
		return p.Max
	}
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(attempt))
	if d >= float64(p.Max) {
		return p.Max
	}
	return toDuration(d)
}

// sanitized clamps out-of-range fields so that Delay is total.
func (p Policy) sanitized() Policy {
	p.Initial = max(p.Initial, 0)
	p.Max = max(p.Max, 0)
	if math.IsNaN(p.Multiplier) || p.Multiplier < 1 {
		p.Multiplier = 1
	}
	switch {
	case math.IsNaN(p.Jitter), p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		p.Jitter = 1
	}
	return p
}

// toDuration converts a non-negative number of nanoseconds to a Duration,
// saturating instead of overflowing.
func toDuration(ns float64) time.Duration {
	switch {
	case ns <= 0:
		return 0
	case ns >= maxDuration:
		return math.MaxInt64
	}
	return time.Duration(ns)
}
