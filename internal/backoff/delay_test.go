package backoff

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDelayTable(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	tests := []struct {
		name    string
		p       Policy
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{"ppp 0", pppWorker, 0, 0.9, 1 * s},
		{"ppp 1", pppWorker, 1, 0.9, 2 * s},
		{"ppp 2", pppWorker, 2, 0.9, 4 * s},
		{"ppp 3", pppWorker, 3, 0.9, 8 * s},
		{"ppp 4", pppWorker, 4, 0.9, 16 * s},
		{"ppp 5", pppWorker, 5, 0.9, 32 * s},
		{"ppp 6 capped", pppWorker, 6, 0.9, 32 * s},
		{"ppp huge attempt", pppWorker, math.MaxInt, 0.9, 32 * s},
		{"negative attempt is first", pppWorker, -5, 0, 1 * s},
		{"default no jitter at 0.5", general, 0, 0.5, 100 * ms},
		{"default 3 at 0.5", general, 3, 0.5, 800 * ms},
		{"default lowest", general, 0, 0, 80 * ms},
		{"default highest", general, 0, 1, 120 * ms},
		{"default capped lowest", general, 100, 0, 4 * s},
		{"default capped at 0.75", general, 100, 0.75, 5500 * ms},
		{"default capped highest", general, math.MaxInt, 1, 6 * s},
		{"zero policy is no delay", Policy{}, 2, 0.99, 0},
		{"constant", Policy{Initial: 3 * s, Max: 3 * s, Multiplier: 1}, 1000, 0.3, 3 * s},
		{"multiplier 1.5", Policy{Initial: 100 * ms, Max: s, Multiplier: 1.5}, 2, 0.5, 225 * ms},
		{"full jitter can be zero", Policy{Jitter: 1}, 0, 0, 0},
		{"rnd below range clamps", general, 0, -3, 80 * ms},
		{"rnd above range clamps", general, 0, 7, 120 * ms},
		{"rnd NaN means centre", general, 0, math.NaN(), 100 * ms},
		{"invalid: max below initial", Policy{Initial: 2 * s, Max: s}, 0, 0.5, s},
		{"invalid: negative initial", Policy{Initial: -s, Max: s}, 4, 0.5, 0},
		{"invalid: multiplier below one", Policy{Initial: s, Max: 5 * s, Multiplier: 0.5}, 9, 0.5, s},
		{"invalid: jitter above one", Policy{Initial: s, Max: s, Jitter: 3}, 0, 1, 2 * s},
		{"invalid: negative jitter", Policy{Initial: s, Max: s, Jitter: -1}, 0, 1, s},
		{"huge max saturates", Policy{Initial: s, Max: math.MaxInt64, Multiplier: 10, Jitter: 1}, 1000, 0.99, math.MaxInt64},
		{"infinite multiplier", Policy{Initial: s, Max: 7 * s, Multiplier: math.Inf(1)}, 1, 0.5, 7 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.Delay(tt.attempt, tt.rnd))
		})
	}
}

func TestDelayIsPure(t *testing.T) {
	for attempt := range 50 {
		for _, rnd := range []float64{0, 0.1, 0.5, 0.999} {
			require.Equal(t, general.Delay(attempt, rnd), general.Delay(attempt, rnd))
		}
	}
}

// randomPolicy returns a valid policy with a wide spread of values.
func randomPolicy(r *rand.Rand) Policy {
	initial := time.Duration(r.Int64N(int64(10 * time.Second)))
	p := Policy{
		Initial:    initial,
		Max:        initial + time.Duration(r.Int64N(int64(time.Hour))),
		Multiplier: 1 + r.Float64()*4,
		Jitter:     r.Float64(),
	}
	switch r.IntN(8) {
	case 0:
		p.Jitter = 0
	case 1:
		p.Multiplier = 1
	case 2:
		p.Max = math.MaxInt64
	case 3:
		p = Policy{Jitter: p.Jitter}.Fill(general) // defaults
	}
	return p
}

// TestDelayProperties checks, on many random policies, that delays before
// jitter are non-decreasing in the attempt number and capped at Max, and that
// jittered delays stay within [base*(1-Jitter), min(base*(1+Jitter), Max*(1+Jitter))].
func TestDelayProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	attempts := []int{math.MaxInt32, math.MaxInt64 / 2, math.MaxInt}
	for range 2000 {
		p := randomPolicy(r)
		require.NoError(t, p.Validate(), "%+v", p)
		full := p
		limit := float64(full.Max) * (1 + full.Jitter)
		prev := time.Duration(0)
		check := func(attempt int) {
			// Plain comparisons: this loop runs ~10^5 times under -race.
			base := full.base(attempt)
			if base < prev || base > full.Max {
				t.Fatalf("%+v attempt %d: base %v after %v, Max %v", p, attempt, base, prev, full.Max)
			}
			prev = base
			noJitter := Policy{Initial: p.Initial, Max: p.Max, Multiplier: p.Multiplier}
			if d := noJitter.Delay(attempt, r.Float64()); d != base {
				t.Fatalf("%+v attempt %d: unjittered delay %v, base %v", p, attempt, d, base)
			}
			lo := math.Floor(float64(base)*(1-full.Jitter)) - 1
			hi := min(float64(base)*(1+full.Jitter)+1, limit)
			for _, rnd := range []float64{0, r.Float64(), math.Nextafter(1, 0)} {
				d := p.Delay(attempt, rnd)
				if d < 0 || float64(d) > hi || float64(d) < lo {
					t.Fatalf("%+v attempt %d rnd %v: delay %v not in [%v, %v]", p, attempt, rnd, d, lo, hi)
				}
			}
		}
		for attempt := range 200 {
			check(attempt)
		}
		for _, attempt := range attempts {
			check(attempt)
		}
	}
}

func TestDelayAttemptZeroIsInitial(t *testing.T) {
	for _, p := range []Policy{general, pppWorker} {
		full := p
		assert.Equal(t, full.Initial, p.Delay(0, 0.5))
	}
}
