package reliable_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/observetest"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
)

// tally counts events by component, kind and outcome.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) Observe(_ context.Context, ev observe.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = make(map[string]int)
	}
	t.n[ev.Component.String()+"/"+ev.Kind.String()]++
	if ev.Outcome != "" {
		t.n[ev.Component.String()+"/"+ev.Kind.String()+"/"+ev.Outcome]++
	}
}

func (t *tally) get(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[key]
}

// TestObserverSeesWhatHappened: what the observer of a real client and
// server reports matches what they did (and their Stats).
func TestObserverSeesWhatHappened(t *testing.T) {
	var cl, sv tally
	r := observetest.Run(t, observetest.Config{Client: &cl, Server: &sv})
	for key, want := range map[string]int{
		"client/attempt":                observetest.Attempts,
		"client/attempt_failed/timeout": observetest.Timeouts,
		"client/give_up":                observetest.GiveUps,
		"client/stale":                  observetest.Stale,
		"client/done":                   observetest.Requests,
		"client/done/ok":                1,
		"client/done/gave_up":           1,
		"client/done/remote_error":      observetest.RemoteError,
		"client/sent":                   observetest.Attempts,
		"server/panic":                  observetest.Panics,
		"server/handled":                observetest.Handled,
		"server/handled/ok":             observetest.HandledOK,
		"server/handled/panic":          observetest.Panics,
		"server/cache_hit":              observetest.CacheHits,
		"server/received":               observetest.Attempts,
		"server/sent":                   3,
		"server/budget":                 10,
	} {
		assert.Equal(t, want, sv.get(key)+cl.get(key), key)
	}
	assert.Equal(t, int(r.Client.Attempts), cl.get("client/attempt"))
	assert.Equal(t, int(r.Client.StaleDropped), cl.get("client/stale"))
	// Three replies came in: "ok"'s, "panic"'s and the stale one.
	assert.Equal(t, 3, cl.get("client/received"))
	assert.Equal(t, 1, sv.get("server/accepted"), "the client's connection")
	assert.Equal(t, 1, cl.get("client/peer_up"))
}

// BenchmarkObserver measures a Client round trip to a Server over tcp
// without an observer, with one that does nothing, and a raw pebbe/zmq4
// REQ to the same Server for scale. Without an observer the observe code
// adds no allocation (compare allocs/op with the base commit):
//
//	go test -run '^$' -bench Observer -benchmem -count 5 -benchtime 20000x ./reliable/
func BenchmarkObserver(b *testing.B) {
	body := []byte("0123456789abcdef")
	nop := observe.Func(func(context.Context, observe.Event) {})
	b.Run("impl=pebbe-req", func(b *testing.B) {
		zctx := zmqtest.Context(b)
		srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", func(_ context.Context, req [][]byte) ([][]byte, error) {
			return req, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(context.Background()) }()
		defer func() { srv.Close(); <-done }()
		b.ReportAllocs()
		pebbeRequests(b, srv.Addr(), body)
	})
	for _, tc := range []struct {
		name string
		obs  observe.Observer
	}{{"observer=none", nil}, {"observer=nop", nop}} {
		b.Run(tc.name, func(b *testing.B) {
			zctx := zmqtest.Context(b)
			srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", func(_ context.Context, req [][]byte) ([][]byte, error) {
				return req, nil
			}, reliable.WithServerObserver(tc.obs))
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); srv.Serve(context.Background()) }()
			defer func() { srv.Close(); <-done }()
			c, err := reliable.NewClient(zctx, []string{srv.Addr()}, reliable.WithObserver(tc.obs),
				reliable.WithAttemptTimeout(10*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			if _, err := c.Request(ctx, body); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Request(ctx, body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// extractor is a Propagator that records what it was handed.
type extractor struct {
	observe.Func
	got chan string
}

func (e *extractor) Inject(ctx context.Context) (context.Context, []byte) { return ctx, nil }
func (e *extractor) Extract(ctx context.Context, b []byte) context.Context {
	e.got <- string(b)
	return context.WithValue(ctx, extractedKey{}, string(b))
}

type extractedKey struct{}

// TestServerTraceFrames: a server hands a request's trace frame to its
// Propagator and runs the handler in what it returns; hostile trace frames
// (oversized, misplaced, truncated) are served as ordinary requests
// without reaching it, and every request gets its reply with the envelope
// echoed.
func TestServerTraceFrames(t *testing.T) {
	zctx := zmqtest.Context(t)
	ex := &extractor{Func: func(context.Context, observe.Event) {}, got: make(chan string, 8)}
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		v, _ := ctx.Value(extractedKey{}).(string)
		return [][]byte{[]byte("trace=" + v)}, nil
	}, reliable.WithServerObserver(ex))
	p := newPeer(t, zctx, s.addr)
	for i, c := range []struct {
		trace []byte // the frame before the ID frame; nil: none
		want  string
	}{
		{wire.AppendTraceFrame(nil, []byte("traceparent=00-1")), "trace=traceparent=00-1"},
		{nil, "trace="},
		{append([]byte("ZG\x01T"), make([]byte, wire.MaxTraceFrame)...), "trace="}, // oversized: ignored
		{[]byte("ZG\x01"), "trace="},                    // truncated tag: a routing frame
		{[]byte("ZG\x01Tx\x00\xff"), "trace=x\x00\xff"}, // opaque bytes pass as they are
	} {
		seq := uint64(i + 1)
		msg := []any{}
		if c.trace != nil {
			msg = append(msg, c.trace)
		}
		msg = append(msg, p.id(seq, 1).AppendFrame(nil, wire.KindRequest), "", "q")
		require.NoError(t, timeout.SendMessage(context.Background(), p.sock, msg...))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rep, err := timeout.RecvMessageBytes(ctx, p.sock)
		cancel()
		require.NoError(t, err)
		if c.trace != nil {
			require.Equal(t, c.trace, rep[0], "the frame is echoed")
			rep = rep[1:]
		}
		id, kind, err := wire.ParseIDFrame(rep[0])
		require.NoError(t, err)
		assert.Equal(t, p.id(seq, 1), id)
		assert.Equal(t, wire.KindReply, kind)
		assert.Equal(t, c.want, string(rep[2]), "case %d", i)
	}
	assert.Len(t, ex.got, 2, "only the well-formed trace frames reach Extract")
}
