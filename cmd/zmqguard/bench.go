package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// benchResult is bench's --json output.
type benchResult struct {
	Endpoint    string  `json:"endpoint"`
	DurationS   float64 `json:"duration_s"`
	Inflight    int     `json:"inflight"`
	Size        int     `json:"size"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	PerSecond   float64 `json:"requests_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P90Ms       float64 `json:"p90_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

func runBench(args []string, stdout, stderr io.Writer) int {
	f := newFlags("bench", "zmqguard bench [flags] ENDPOINT\n\n"+
		"Sends echo requests of --size bytes for --duration, --inflight at a\n"+
		"time (one reliable.Client in correlated mode), and prints round-trip\n"+
		"latency percentiles and throughput. Run it against an echo server such\n"+
		"as zmqguard serve. A progress line is written to stderr when stderr is\n"+
		"a terminal. Exit code 2 if no request was answered.", stdout)
	duration := f.Duration("duration", 5*time.Second, "how long to send requests")
	inflight := f.Int("inflight", 16, "requests in flight at once")
	size := f.Int("size", 64, "request size in bytes")
	timeout := f.Duration("timeout", reliable.DefaultAttemptTimeout, "how long each request waits for its reply")
	asJSON := f.Bool("json", false, "print the result as JSON")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case len(pos) != 1:
		return f.usageError(stderr, "want exactly one ENDPOINT")
	case *duration <= 0 || *timeout <= 0:
		return f.usageError(stderr, "--duration and --timeout must be positive")
	case *inflight < 1:
		return f.usageError(stderr, "--inflight must be at least 1")
	case *size < 0:
		return f.usageError(stderr, "--size must not be negative")
	}
	ep := pos[0]
	if err := checkEndpoint("connect", ep); err != nil {
		return f.usageError(stderr, "%v", err)
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard bench:", err)
		return exitFail
	}
	defer zctx.Term()
	c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithAttemptTimeout(*timeout),
		reliable.WithMaxAttempts(1), reliable.WithHWM(max(reliable.DefaultHWM, 2**inflight)))
	if err != nil {
		return f.usageError(stderr, "%v", err)
	}
	defer c.Close()

	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(sig, *duration)
	defer cancel()
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}

	var (
		mu       sync.Mutex
		lats     []time.Duration
		errs     int
		firstErr string
		done     atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range *inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t := time.Now()
				_, err := c.Request(ctx, payload)
				if ctx.Err() != nil {
					break // cut off by the end of the run: not counted
				}
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t))
				done.Add(1)
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	progressDone := make(chan struct{})
	var progress sync.WaitGroup
	if isTerminal(stderr) {
		progress.Add(1)
		go func() {
			defer progress.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					el := time.Since(start)
					n := done.Load()
					fmt.Fprintf(stderr, "\r%5.1fs  %9d replies  %9.0f/s ", el.Seconds(), n, float64(n)/el.Seconds())
				case <-progressDone:
					fmt.Fprint(stderr, "\r\033[K")
					return
				}
			}
		}()
	}
	wg.Wait()
	// Replies count until the end of the run; requests cut off by it do not.
	elapsed := *duration
	if sig.Err() != nil {
		elapsed = time.Since(start)
	}
	close(progressDone)
	progress.Wait()

	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		i := int(p/100*float64(len(lats))+0.999999) - 1
		return ms(lats[max(0, min(i, len(lats)-1))])
	}
	r := benchResult{
		Endpoint: ep, DurationS: elapsed.Seconds(), Inflight: *inflight, Size: *size,
		Requests: len(lats), Errors: errs, PerSecond: float64(len(lats)) / elapsed.Seconds(),
		P50Ms: pct(50), P90Ms: pct(90), P99Ms: pct(99), P999Ms: pct(99.9), MaxMs: pct(100),
		FirstError: firstErr, Interrupted: sig.Err() != nil,
	}
	if *asJSON {
		printJSON(stdout, r)
	} else {
		fmt.Fprintf(stdout, "bench %s: %.1fs, %d in flight, %d-byte requests\n", ep, r.DurationS, r.Inflight, r.Size)
		fmt.Fprintf(stdout, "replies   %d (%.0f/s), errors %d\n", r.Requests, r.PerSecond, r.Errors)
		fmt.Fprintf(stdout, "latency   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
			r.P50Ms, r.P90Ms, r.P99Ms, r.P999Ms, r.MaxMs)
		if firstErr != "" {
			fmt.Fprintln(stdout, "first error:", firstErr)
		}
	}
	if r.Requests == 0 {
		fmt.Fprintln(stderr, "zmqguard bench: no request was answered")
		return exitNoReply
	}
	return exitOK
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
