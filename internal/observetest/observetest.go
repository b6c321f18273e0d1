// Package observetest drives a real reliable.Client against a real
// reliable.Server through the events an observer must see: a retry, an
// attempt timeout, a give-up, a stale reply dropped, a panic and plain
// successes. The adapters' tests (contrib/slog, contrib/prometheus,
// contrib/otel) and reliable's own run it and compare what their
// observer reported with Stats. Test tooling: never imported by library
// code.
package observetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
)

// Config says what to observe with.
type Config struct {
	Client observe.Observer // given to the client (reliable.WithObserver)
	Server observe.Observer // given to the server (reliable.WithServerObserver)
	// Handle, if set, is called by the handler with its context, e.g. to
	// start a span.
	Handle func(ctx context.Context)
}

// Result is what happened.
type Result struct {
	Endpoint string
	Client   reliable.ClientStats
	Server   reliable.ServerStats
}

// What Run does, in counts an observer should report.
const (
	Requests    = 3 // "slow" (gives up), "ok", "panic"
	Attempts    = 4 // two of "slow", one each of the others
	Retries     = 1 // the second attempt of "slow"
	Timeouts    = 2 // both attempts of "slow"
	GiveUps     = 1 // "slow"
	Stale       = 1 // the reply to "slow", read by "ok"
	Panics      = 1 // "panic"
	Handled     = 3 // handler runs: "slow", "ok", "panic"
	HandledOK   = 2 // "slow" and "ok"
	CacheHits   = 1 // the retry of "slow", joined to its run
	RemoteError = 1 // "panic" came back as an error reply
)

// Run serves over tcp loopback and sends the three requests. It fails t
// when the client or server did not do what the counts above say.
func Run(t testing.TB, cfg Config) Result {
	t.Helper()
	zctx := zmqtest.Context(t)
	slowDone := make(chan struct{})
	h := reliable.Handler(func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if cfg.Handle != nil {
			cfg.Handle(ctx)
		}
		switch string(req[0]) {
		case "slow":
			defer close(slowDone)
			time.Sleep(400 * time.Millisecond) // past both attempts of 150 ms
		case "panic":
			panic("observetest: boom")
		}
		return req, nil
	})
	// The run waits for replies to go out by the server's KindSent events.
	sent := make(chan struct{}, 16)
	onSent := observe.Func(func(_ context.Context, ev observe.Event) {
		if ev.Kind == observe.KindSent {
			sent <- struct{}{}
		}
	})
	srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", h, reliable.WithServerObserver(observe.Multi(cfg.Server, onSent)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	c, err := reliable.NewClient(zctx, []string{srv.Addr()}, reliable.WithObserver(cfg.Client),
		reliable.WithAttemptTimeout(150*time.Millisecond), reliable.WithMaxAttempts(2),
		reliable.WithBackoff(reliable.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Jitter: -1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	if _, err := c.Request(ctx, []byte("slow")); !errors.Is(err, reliable.ErrNoReply) {
		t.Fatalf("slow: %v, want ErrNoReply", err)
	}
	// The reply to "slow" goes out when its handler returns; wait for it
	// to be sent, so that "ok" finds it before its own.
	select {
	case <-slowDone:
	case <-time.After(5 * time.Second):
		t.Fatal("observetest: the slow handler did not return")
	}
	await(t, sent)
	if rep, err := c.Request(ctx, []byte("ok")); err != nil || string(rep[0]) != "ok" {
		t.Fatalf("ok: %q, %v", rep, err)
	}
	var re *reliable.RemoteError
	if _, err := c.Request(ctx, []byte("panic")); !errors.As(err, &re) {
		t.Fatalf("panic: %v, want a *RemoteError", err)
	}
	await(t, sent)
	await(t, sent)
	r := Result{Endpoint: srv.Addr(), Client: c.Stats(), Server: srv.Stats()}
	if r.Client.StaleDropped != Stale || r.Client.Timeouts != Timeouts || r.Client.Attempts != Attempts ||
		r.Client.GiveUps != GiveUps || r.Server.Panics != Panics || r.Server.DuplicatesInFlight != CacheHits {
		t.Fatalf("the run went otherwise: client %+v, server %+v", r.Client, r.Server)
	}
	return r
}

func await(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("observetest: no reply went out within 5s")
	}
}
