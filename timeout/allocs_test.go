//go:build !race

// The race detector changes allocation counts.

package timeout_test

import (
	"context"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestAllocsNoWorseThanPebbe: per message, the ctx-bounded calls allocate
// no more than pebbe/zmq4's blocking ones (measured in the same run, over
// inproc with unlimited HWMs so that nothing waits).
func TestAllocsNoWorseThanPebbe(t *testing.T) {
	data, str := make([]byte, 16), "0123456789abcdef"
	parts := [][]byte{data, data, data, data}
	per := func(f func() error) float64 {
		return testing.AllocsPerRun(200, func() { require.NoError(t, f()) })
	}

	pctx, err := zmq4.NewContext()
	require.NoError(t, err)
	t.Cleanup(func() { pctx.Term() })
	ppull, _ := pctx.NewSocket(zmq4.PULL)
	ppush, _ := pctx.NewSocket(zmq4.PUSH)
	t.Cleanup(func() { ppull.Close(); ppush.Close() })
	for _, s := range []*zmq4.Socket{ppull, ppush} {
		require.NoError(t, s.SetLinger(0))
		require.NoError(t, s.SetSndhwm(0))
		require.NoError(t, s.SetRcvhwm(0))
	}
	require.NoError(t, ppull.Bind("inproc://allocs-pebbe"))
	require.NoError(t, ppush.Connect("inproc://allocs-pebbe"))
	pebbe := map[string]float64{
		"SendBytes":             per(func() error { _, err := ppush.SendBytes(data, 0); return err }),
		"RecvBytes":             per(func() error { _, err := ppull.RecvBytes(0); return err }),
		"Send(string)":          per(func() error { _, err := ppush.Send(str, 0); return err }),
		"Recv":                  per(func() error { _, err := ppull.Recv(0); return err }),
		"SendMessage(4)":        per(func() error { _, err := ppush.SendMessage(data, data, data, data); return err }),
		"SendMessage([][]byte)": per(func() error { _, err := ppush.SendMessage(parts); return err }),
		"RecvMessageBytes(4)":   per(func() error { _, err := ppull.RecvMessageBytes(0); return err }),
	}

	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	for _, s := range []*zmq.Socket{pull, push} {
		require.NoError(t, s.SetSndhwm(0))
		require.NoError(t, s.SetRcvhwm(0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	guard := map[string]float64{
		"SendBytes":             per(func() error { return timeout.SendBytes(ctx, push, data) }),
		"RecvBytes":             per(func() error { _, err := timeout.RecvBytes(ctx, pull); return err }),
		"Send(string)":          per(func() error { return timeout.Send(ctx, push, str) }),
		"Recv":                  per(func() error { _, err := timeout.Recv(ctx, pull); return err }),
		"SendMessage(4)":        per(func() error { return timeout.SendMessage(ctx, push, data, data, data, data) }),
		"SendMessage([][]byte)": per(func() error { return timeout.SendMessage(ctx, push, parts) }),
		"RecvMessageBytes(4)":   per(func() error { _, err := timeout.RecvMessageBytes(ctx, pull); return err }),
	}
	pebbe["Request"], guard["Request"] = requestAllocs(t, per, data)
	for op, p := range pebbe {
		t.Logf("%-22s pebbe %4.1f  timeout/ %4.1f", op, p, guard[op])
		assert.LessOrEqual(t, guard[op], p, "%s: timeout/ allocates more than pebbe/zmq4", op)
	}
}

// requestAllocs measures a round trip over tcp against one raw pebbe REP
// echo server (whose allocations count in both): pebbe's REQ SendBytes and
// RecvBytes, and timeout.Request.
func requestAllocs(t *testing.T, per func(func() error) float64, data []byte) (pebbe, guard float64) {
	sctx, err := zmq4.NewContext()
	require.NoError(t, err)
	rep, _ := sctx.NewSocket(zmq4.REP)
	require.NoError(t, rep.SetLinger(0))
	require.NoError(t, rep.Bind("tcp://127.0.0.1:*"))
	ep, _ := rep.GetLastEndpoint()
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			b, err := rep.RecvBytes(0)
			if err != nil {
				return // ETERM
			}
			if _, err := rep.SendBytes(b, 0); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		go sctx.Term() // wakes the server with ETERM
		<-served
		rep.Close()
	})

	pctx, err := zmq4.NewContext()
	require.NoError(t, err)
	t.Cleanup(func() { pctx.Term() })
	preq, _ := pctx.NewSocket(zmq4.REQ)
	t.Cleanup(func() { preq.Close() })
	require.NoError(t, preq.SetLinger(0))
	require.NoError(t, preq.Connect(ep))
	pebbe = per(func() error {
		if _, err := preq.SendBytes(data, 0); err != nil {
			return err
		}
		_, err := preq.RecvBytes(0)
		return err
	})

	c := zmqtest.Context(t)
	req := zmqtest.Socket(t, c, zmq.REQ)
	require.NoError(t, req.Connect(ep))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	guard = per(func() error { _, err := timeout.Request(ctx, req, data); return err })
	return pebbe, guard
}
