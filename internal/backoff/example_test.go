package backoff_test

import (
	"fmt"

	"github.com/zmqguard/zmqguard/internal/backoff"
)

func ExamplePolicy_Delay() {
	// The Paranoid Pirate worker reconnects after 1s, 2s, 4s, ... up to 32s.
	for attempt := range 7 {
		fmt.Println(attempt, backoff.PPPWorker.Delay(attempt, 0))
	}
	// Jitter spreads Default's first delay over 80ms..120ms; in real code
	// rnd comes from math/rand/v2.Float64.
	fmt.Println(backoff.Default.Delay(0, 0), backoff.Default.Delay(0, 0.5), backoff.Default.Delay(0, 0.999))
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
