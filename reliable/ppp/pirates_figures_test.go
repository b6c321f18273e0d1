package ppp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// The figures of docs/PPP.md and docs/UNDER-FIRE.md, measured with
// default settings where they matter. They run only with ZMQGUARD_PIRATES
// set (make pirates), and report; they use only API that the queue had
// before these figures were taken, so the same file measures "before" on
// an older commit.

// TestPirateFigureZguideWorkers: 24 requests (8 from zguide's lpclient, 8
// from each mode of reliable.Client) through our queue to two of zguide's
// strict workers. Reports how many were answered.
func TestPirateFigureZguideWorkers(t *testing.T) {
	if pirateDuration(t) == 0 {
		t.Skip("ZMQGUARD_PIRATES not set (make pirates)")
	}
	r := runPirates(t, pirateCfg{queue: "ours", worker: "zguide", workers: 2, lpclients: 1, correlated: 1, plain: 1,
		requests: 8, work: 10 * time.Millisecond, killEvery: time.Hour})
	t.Logf("FIGURE our queue, zguide's strict workers: %d of %d requests answered (%d refused as invalid by the workers)",
		r.answered, 24, r.invalid)
}

// TestPirateFigureStuckWorker: a worker that keeps heartbeating but never
// answers takes a request; a good worker joins after it. A client with
// one attempt of 20 s waits. Reports when, if at all, it was answered,
// with the queue's default settings (1 s × 3 heartbeats).
func TestPirateFigureStuckWorker(t *testing.T) {
	if pirateDuration(t) == 0 {
		t.Skip("ZMQGUARD_PIRATES not set (make pirates)")
	}
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	startWorker(t, zctx, q.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		entered <- struct{}{}
		select { // never answers: heartbeats go on
		case <-release:
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	})
	evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
	c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithAttemptTimeout(20*time.Second), reliable.WithMaxAttempts(1))
	require.NoError(t, err)
	defer c.Close()
	res := make(chan error, 1)
	start := time.Now()
	go func() { _, err := c.Request(context.Background(), []byte("held")); res <- err }()
	<-entered
	startWorker(t, zctx, q.Backend(), ppEcho)
	evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
	err = <-res
	t.Logf("FIGURE a request held by a worker that heartbeats but never answers (another worker ready): %v after %v; queue stats %+v",
		errText(err), time.Since(start).Round(10*time.Millisecond), q.Stats())
}

func errText(err error) string {
	if err == nil {
		return "answered"
	}
	return "not answered (" + err.Error() + ")"
}
