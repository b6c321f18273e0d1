package backoff_test

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/internal/backoff"
)

func ExamplePolicy_Delay() {
	// The Paranoid Pirate worker reconnects after 1s, 2s, 4s, ... up to 32s.
	ppp := backoff.Policy{Initial: time.Second, Max: 32 * time.Second, Multiplier: 2}
	for attempt := range 7 {
		fmt.Println(attempt, ppp.Delay(attempt, 0))
	}
	// Jitter spreads a 100ms first delay over 80ms..120ms; in real code
	// rnd comes from math/rand/v2.Float64.
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
	fmt.Println(p.Delay(0, 0), p.Delay(0, 0.5), p.Delay(0, 0.999))
	// Output:
	// 0 1s
	// 1 2s
	// 2 4s
	// 3 8s
	// 4 16s
	// 5 32s
	// 6 32s
	// 80ms 100ms 119.96ms
}
