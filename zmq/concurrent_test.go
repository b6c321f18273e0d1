package zmq_test

import (
	"errors"
	"net"
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
// a receive. The engine's Poke makes the receiver look again.
func TestOneReceiverManySenders(t *testing.T) {
	c := zmqtest.Context(t)
	rep, dealer := zmqtest.Pair(t, c, "tcp", zmq.REP, zmq.DEALER)
	var srv, cli atomic.Int64
	// The server and the reader block without a timeout; closing their
	// sockets at the end wakes them.
	var loops sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		for {
			m, err := rep.RecvMessageBytes(0)
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
		defer loops.Done()
		for {
			_, err := dealer.RecvMessageBytes(0)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
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
	dealer.Close()
	rep.Close()
	loops.Wait()
}
