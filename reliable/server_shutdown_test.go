package reliable_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

func TestServerGracefulShutdownWithRequestsInFlight(t *testing.T) {
	forEachServerTransport(t, func(t *testing.T, tr string) {
		const inFlight = 5
		zctx := zmqtest.Context(t)
		var execs counter
		entered := make(chan string, 20)
		release := make(chan struct{})
		s := listen(t, zctx, tr, countingHandler(&execs, entered, release))
		p := newPeer(t, zctx, s.addr)
		for i := 1; i <= inFlight; i++ {
			p.send(uint64(i), 1, "block")
		}
		for range inFlight {
			<-entered
		}

		shutdownDone := make(chan error, 1)
		go func() { shutdownDone <- s.srv.Shutdown(context.Background()) }()
		executedNew := 0
		waitFor(t, 5*time.Second, "Shutdown to be seen", func() bool {
			// A new request is refused once the loop has seen Shutdown
			// (one sent before that is executed).
			late := newPeer(t, zctx, s.addr)
			late.send(1, 1, "new")
			r, err := late.recv(5 * time.Second)
			require.NoError(t, err)
			if r.kind == wire.KindReply {
				executedNew++
				return false
			}
			assert.Equal(t, []string{wire.CodeShutdown, "server is shutting down"}, r.body)
			return true
		})
		// A retry of a running request is still joined, not refused.
		p.send(1, 2, "block")
		waitFor(t, 5*time.Second, "the retry to be joined", func() bool { return s.srv.Stats().DuplicatesInFlight == 1 })

		select {
		case err := <-shutdownDone:
			t.Fatalf("Shutdown returned %v with handlers still running", err)
		default:
		}
		close(release)

		got := map[uint64]wire.Kind{}
		for range inFlight {
			r := p.mustRecv(5 * time.Second)
			got[r.id.Seq] = r.kind
			if r.id.Seq == 1 {
				assert.Equal(t, uint32(2), r.id.Attempt)
			}
		}
		for i := 1; i <= inFlight; i++ {
			assert.Equal(t, wire.KindReply, got[uint64(i)], "request %d answered", i)
		}
		select {
		case err := <-shutdownDone:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Shutdown did not return")
		}
		assert.ErrorIs(t, s.wait(), reliable.ErrServerClosed)
		assert.Equal(t, inFlight, execs.get("block"))
		assert.Equal(t, executedNew, execs.get("new"), "requests refused after Shutdown are not executed")
		assert.NotZero(t, s.srv.Stats().Refused)
	})
}

func TestServerShutdownContextExpires(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs counter
	entered := make(chan string, 1)
	release := make(chan struct{})
	defer close(release)
	s := listen(t, zctx, "inproc", countingHandler(&execs, entered, release), reliable.WithHandlerTimeout(0))
	p := newPeer(t, zctx, s.addr)
	p.send(1, 1, "block")
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.srv.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)

	// Still draining; Close stops it at once.
	require.NoError(t, s.srv.Close())
	assert.ErrorIs(t, s.wait(), reliable.ErrServerClosed)
}

func TestServerShutdownIdle(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", echoUpper)
	newPeer(t, zctx, s.addr).call(1, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.srv.Shutdown(ctx))
	assert.ErrorIs(t, s.wait(), reliable.ErrServerClosed)
	require.NoError(t, s.srv.Shutdown(ctx), "idempotent")
	require.NoError(t, s.srv.Close())
}
