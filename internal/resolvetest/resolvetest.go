// Package resolvetest runs a discovery.Resolver in a test and hands its
// updates to the test: the one harness of the resolver tests in the
// library and in contrib/dnstest and contrib/etcd. Test tooling, never
// imported by library code.
//
// # Concurrency
//
// Watch starts one goroutine, stopped and waited for at the test's
// cleanup; Next is for the test's goroutine.
package resolvetest

import (
	"context"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/discovery"
)

// Watch runs r until the test ends, with now as its hint channel (nil:
// none); its updates arrive on the returned channel (up to 64 buffered;
// the resolver waits while it is full). Resolve must return nil.
func Watch(t testing.TB, r discovery.Resolver, now chan struct{}) <-chan discovery.Update {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan discovery.Update, 64)
	done := make(chan error, 1)
	go func() {
		done <- r.Resolve(ctx, now, func(u discovery.Update) {
			select {
			case ch <- u:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Resolve returned %v", err)
		}
	})
	return ch
}

// Next returns the next update, failing the test after within.
func Next(t testing.TB, ch <-chan discovery.Update, within time.Duration) discovery.Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(within):
		t.Fatalf("no update within %v", within)
		return discovery.Update{}
	}
}
