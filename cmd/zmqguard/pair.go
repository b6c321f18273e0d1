package main

import (
	"fmt"
	"io"
	"time"

	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/zmq"
)

// pairFlags are the Binary Star flags of broker and queue.
type pairFlags struct {
	peer, state *string
	backup      *bool
	heartbeat   *time.Duration
}

// pairEvent is a state change of the pair, as a JSON line.
type pairEvent struct {
	Event string `json:"event"` // "pair"
	Kind  string `json:"kind"`  // the input that moved it
	From  string `json:"from"`
	To    string `json:"to"`
	Error string `json:"error,omitempty"`
}

func addPairFlags(f *cmdFlags) *pairFlags {
	return &pairFlags{
		peer:      f.String("peer", "", "Binary Star: the peer's state endpoint"),
		state:     f.String("state", "", "Binary Star: the endpoint to publish this server's state on (with --peer)"),
		backup:    f.Bool("backup", false, "Binary Star: this server is the backup (default: the primary)"),
		heartbeat: f.Duration("pair-heartbeat", bstar.DefaultInterval, "Binary Star: state heartbeat (both servers the same)"),
	}
}

// check returns a usage error's exit code, or -1 when the flags go together.
func (pf *pairFlags) check(f *cmdFlags, stderr io.Writer) int {
	switch {
	case (*pf.peer == "") != (*pf.state == ""):
		return f.usageError(stderr, "--peer and --state go together")
	case *pf.backup && *pf.peer == "":
		return f.usageError(stderr, "--backup needs --peer and --state")
	}
	for _, e := range []struct{ op, ep string }{{"connect", *pf.peer}, {"bind", *pf.state}} {
		if err := checkEndpoint(e.op, e.ep); e.ep != "" && err != nil {
			return f.usageError(stderr, "%v", err)
		}
	}
	return -1
}

func (pf *pairFlags) enabled() bool { return *pf.peer != "" }

func (pf *pairFlags) role() bstar.Role {
	if *pf.backup {
		return bstar.Backup
	}
	return bstar.Primary
}

// describe names the server's part in the pair, for its first line.
func (pf *pairFlags) describe() string {
	return fmt.Sprintf("Binary Star %v, state on %s, peer %s", pf.role(), *pf.state, *pf.peer)
}

// newPair makes the pair; with verbose, its state changes go to emit.
func (pf *pairFlags) newPair(zctx *zmq.Context, verbose bool, emit func(any, string)) (*bstar.Pair, error) {
	opts := []bstar.Option{bstar.WithHeartbeat(*pf.heartbeat, bstar.DefaultLiveness)}
	if verbose {
		opts = append(opts, bstar.WithEventHook(func(ev bstar.Event) {
			e := pairEvent{Event: "pair", From: ev.From.String(), To: ev.To.String(), Kind: ev.Input.String()}
			if ev.Err != nil {
				e.Error = ev.Err.Error()
			}
			emit(e, "pair: "+ev.String())
		}))
	}
	return bstar.New(zctx, pf.role(), *pf.state, *pf.peer, opts...)
}
