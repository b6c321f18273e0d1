package zmq_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestOneReceiverManySenders is the regression test for a lost wake-up:
// libzmq processes pending commands inside any call, so a send from one
// goroutine can consume the ZMQ_FD signal meant for a goroutine parked in
// a receive. Socket.poke makes the receiver look again.
func TestOneReceiverManySenders(t *testing.T) {
	c := zmqtest.Context(t)
	rep, dealer := zmqtest.Pair(t, c, "tcp", zmq.REP, zmq.DEALER)
	var srv, cli atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			m, err := rep.RecvMessageBytesContext(ctx, 0)
			if err != nil {
				return
			}
			srv.Add(1)
			rep.SendMessage(m)
		}
	}()
	const N = 8 * 200
	nSenders := 8
	got := make(chan struct{}, N)
	go func() {
		for {
			_, err := dealer.RecvMessageBytesContext(ctx, 0)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("reader: %v", err)
				}
				return
			}
			cli.Add(1)
			got <- struct{}{}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range nSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				mu.Lock()
				_, err := dealer.SendMessageDontwait("id", "", "x")
				mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				select {
				case <-got:
				case <-time.After(time.Second):
					t.Error("stall: server saw", srv.Load(), "client got", cli.Load())
					return
				}
			}
		}()
	}
	wg.Wait()
}
