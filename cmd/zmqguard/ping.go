package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// pingReply is one ping in ping's --json output.
type pingReply struct {
	Seq   int     `json:"seq"`
	RttMs float64 `json:"rtt_ms,omitempty"`
	Error string  `json:"error,omitempty"`
}

// pingSummary is ping's --json output.
type pingSummary struct {
	Endpoint string      `json:"endpoint"`
	Sent     int         `json:"sent"`
	Received int         `json:"received"`
	LossPct  float64     `json:"loss_pct"`
	MinMs    float64     `json:"min_ms"`
	AvgMs    float64     `json:"avg_ms"`
	MaxMs    float64     `json:"max_ms"`
	MdevMs   float64     `json:"mdev_ms"`
	Pings    []pingReply `json:"pings"`
}

func runPing(args []string, stdout, stderr io.Writer) int {
	f := newFlags("ping", "zmqguard ping [flags] ENDPOINT\n\n"+
		"Sends an echo request every --interval and prints each reply's round\n"+
		"trip like ping(8), then a summary with loss and min/avg/max/mdev when\n"+
		"--count requests are done or on Ctrl-C. Any REP or ROUTER echo server\n"+
		"answers (zmqguard serve is one). A ping without a reply says why: the\n"+
		"peer disconnected (after how long), no peer was connected within\n"+
		"--timeout, or no reply came within --timeout. Exit code 0 if any reply\n"+
		"came, 2 if none.", stdout)
	interval := f.Duration("interval", time.Second, "time between requests")
	count := f.Int("count", 0, "stop after this many requests (0: until interrupted)")
	timeout := f.Duration("timeout", time.Second, "how long to wait for each reply")
	asJSON := f.Bool("json", false, "print only a JSON summary")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case len(pos) != 1:
		return f.usageError(stderr, "want exactly one ENDPOINT")
	case *interval <= 0 || *timeout <= 0:
		return f.usageError(stderr, "--interval and --timeout must be positive")
	case *count < 0:
		return f.usageError(stderr, "--count must not be negative")
	}
	ep := pos[0]
	if err := checkEndpoint("connect", ep); err != nil {
		return f.usageError(stderr, "%v", err)
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard ping:", err)
		return exitFail
	}
	defer zctx.Term()
	c, err := reliable.NewClient(zctx, []string{ep}, reliable.WithAttemptTimeout(*timeout), reliable.WithMaxAttempts(1))
	if err != nil {
		return f.usageError(stderr, "%v", err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum := pingSummary{Endpoint: ep, Pings: []pingReply{}}
	var rtts []time.Duration
	if !*asJSON {
		fmt.Fprintf(stdout, "PING %s: echo requests every %v\n", ep, *interval)
	}
	started := time.Now()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for seq := 1; *count == 0 || seq <= *count; seq++ {
		if seq > 1 {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		body := []byte("ping " + strconv.Itoa(seq))
		start := time.Now()
		rep, err := c.Request(ctx, body)
		rtt := time.Since(start)
		if ctx.Err() != nil {
			break // interrupted: this one does not count
		}
		sum.Sent++
		p := pingReply{Seq: seq}
		var re *reliable.RemoteError
		switch {
		case err == nil && len(rep) == 1 && string(rep[0]) == string(body):
			p.RttMs = ms(rtt)
			rtts = append(rtts, rtt)
			if !*asJSON {
				fmt.Fprintf(stdout, "reply from %s: seq=%d time=%s ms\n", ep, seq, fmtMs(rtt))
			}
		case err == nil:
			p.Error = fmt.Sprintf("not an echo: %q", strs(rep))
		case errors.As(err, &re):
			p.Error = "error reply: " + re.Error()
		case errors.Is(err, reliable.ErrNoReply):
			p.Error = noReplyCause(err, *timeout, rtt)
		default:
			p.Error = err.Error()
		}
		if p.Error != "" && !*asJSON {
			fmt.Fprintf(stdout, "%s: seq=%d\n", p.Error, seq)
		}
		sum.Pings = append(sum.Pings, p)
	}
	sum.Received = len(rtts)
	if sum.Sent > 0 {
		sum.LossPct = 100 * float64(sum.Sent-sum.Received) / float64(sum.Sent)
	}
	if len(rtts) > 0 {
		lo, hi, total := rtts[0], rtts[0], time.Duration(0)
		for _, d := range rtts {
			lo, hi, total = min(lo, d), max(hi, d), total+d
		}
		avg := total / time.Duration(len(rtts))
		var sq float64
		for _, d := range rtts {
			sq += (ms(d) - ms(avg)) * (ms(d) - ms(avg))
		}
		sum.MinMs, sum.AvgMs, sum.MaxMs = ms(lo), ms(avg), ms(hi)
		sum.MdevMs = math.Sqrt(sq / float64(len(rtts)))
	}
	if *asJSON {
		printJSON(stdout, sum)
	} else {
		fmt.Fprintf(stdout, "\n--- %s zmqguard ping statistics ---\n", ep)
		fmt.Fprintf(stdout, "%d requests sent, %d replies received, %.0f%% loss, time %dms\n",
			sum.Sent, sum.Received, sum.LossPct, time.Since(started).Milliseconds())
		if len(rtts) > 0 {
			fmt.Fprintf(stdout, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", sum.MinMs, sum.AvgMs, sum.MaxMs, sum.MdevMs)
		}
	}
	if sum.Received == 0 {
		return exitNoReply
	}
	return exitOK
}

// noReplyCause names why a ping (one attempt) got no reply: its peer
// disconnected while it waited (after rtt), no peer was connected for the
// whole timeout, or the reply did not come in time.
func noReplyCause(err error, timeout, rtt time.Duration) string {
	switch {
	case errors.Is(err, reliable.ErrPeerGone):
		return "peer disconnected after " + fmtMs(rtt) + " ms"
	case errors.Is(err, reliable.ErrNotConnected):
		return "not connected within " + timeout.String()
	}
	return "no reply within " + timeout.String()
}
