// Package backoff computes retry delays as a pure function of the attempt
// number: exponential growth from an initial delay, capped at a maximum,
// optionally spread by a random jitter that the caller supplies.
//
// Nothing in this package sleeps, keeps state or reads a clock or a random
// source, so retry loops built on it are tested without waiting:
//
//	for attempt := 0; ; attempt++ {
//		if err := try(ctx); err == nil {
//			return nil
//		}
//		delay := policy.Delay(attempt, rand.Float64())
//		// wait for delay or ctx.Done()
//	}
//
// # Concurrency
//
// [Policy] is a small value type. All of its methods are pure functions of
// their receiver and arguments, so a Policy is safe for concurrent use by
// any number of goroutines as long as nobody writes to it at the same
// time. The package has no variables.
package backoff
