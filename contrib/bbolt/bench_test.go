package bbolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
)

// BenchmarkDurableRequest is the cost of the persistent reply store per
// request, beside the reply cache in memory and raw pebbe/zmq4 (REQ
// clients against a ROUTER echo), in the same run, over tcp loopback:
//
//	cd contrib/bbolt && go test -run '^$' -bench DurableRequest -count 3 .
//
// With the store, each request costs two writes (started, outcome) and,
// with sync=always, their fsyncs; requests in flight at once share them.
func BenchmarkDurableRequest(b *testing.B) {
	body := []byte("0123456789abcdef")
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("impl=pebbe/inflight=%d", inflight), func(b *testing.B) {
			ep := rawEcho(b)
			ctx, _ := zmq4.NewContext()
			defer ctx.Term()
			socks := make([]*zmq4.Socket, inflight)
			for i := range socks {
				socks[i], _ = ctx.NewSocket(zmq4.REQ)
				defer socks[i].Close()
				socks[i].SetLinger(0)
				socks[i].Connect(ep)
			}
			run(b, inflight, func(i int) error {
				if _, err := socks[i].SendBytes(body, 0); err != nil {
					return err
				}
				_, err := socks[i].RecvBytes(0)
				return err
			})
		})
		variants := []struct {
			name string
			sync *zgbolt.Sync
		}{{"memory", nil}, {"bbolt/sync=always", &zgbolt.SyncAlways},
			{"bbolt/sync=every-10ms", ptr(zgbolt.SyncEvery(10 * time.Millisecond))}, {"bbolt/sync=never", &zgbolt.SyncNever}}
		for _, v := range variants {
			b.Run(fmt.Sprintf("impl=%s/inflight=%d", v.name, inflight), func(b *testing.B) {
				zctx := zmqtest.Context(b)
				var opts []reliable.ServerOption
				if v.sync != nil {
					st, err := zgbolt.OpenReplyStore(filepath.Join(b.TempDir(), "r.db"), zgbolt.WithSync(*v.sync))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { st.Close() }) // after the server's cleanup
					opts = append(opts, reliable.WithReplyStore(st))
				}
				echo := func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil }
				srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", echo, opts...)
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				go func() { defer close(done); srv.Serve(context.Background()) }()
				b.Cleanup(func() { srv.Close(); <-done })
				c, err := reliable.NewClient(zctx, []string{srv.Addr()})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				run(b, inflight, func(int) error {
					_, err := c.Request(context.Background(), body)
					return err
				})
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

// run makes b.N requests with inflight goroutines and reports req/s.
func run(b *testing.B, inflight int, request func(i int) error) {
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, inflight)
	for i := range inflight {
		n := b.N / inflight
		if i < b.N%inflight {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := request(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// rawEcho runs the baseline echo server (zmqtest.PebbeEcho) and returns
// its endpoint.
func rawEcho(b *testing.B) string { return zmqtest.PebbeEcho(b, 1)[0] }
