package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/reliable"
)

// outboxEntry is one request in outbox ls's --json output.
type outboxEntry struct {
	Seq     uint64   `json:"seq"`
	State   string   `json:"state"` // "pending" or "dead"
	Queued  string   `json:"queued"`
	Bytes   int      `json:"bytes"`
	Reason  string   `json:"reason,omitempty"`
	Request []string `json:"request"`
}

// outboxList is outbox ls's --json output.
type outboxList struct {
	File     string        `json:"file"`
	ClientID string        `json:"client_id"`
	LastSeq  uint64        `json:"last_seq"`
	Entries  []outboxEntry `json:"entries"`
}

const outboxPage = 1000

func runOutbox(args []string, stdout, stderr io.Writer) int {
	f := newFlags("outbox", "zmqguard outbox ls|retry|drop [flags] FILE [SEQ...]\n\n"+
		"Reads and edits the store of a reliable.Outbox (contrib/bbolt), whose\n"+
		"process must not be running (the file is locked while it is open):\n"+
		"  ls FILE          lists the pending requests and the dead letters\n"+
		"  retry FILE SEQ.. moves dead letters back to the pending requests:\n"+
		"                   the next Outbox opened on FILE sends them again\n"+
		"  drop FILE SEQ..  forgets dead letters\n"+
		"--all takes every dead letter instead of SEQ.", stdout)
	all := f.Bool("all", false, "retry or drop every dead letter")
	dead := f.Bool("dead", false, "ls: list only the dead letters")
	asJSON := f.Bool("json", false, "ls: print one JSON document")
	wait := f.Duration("wait", time.Second, "how long to wait for the file's lock")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) < 2 {
		return f.usageError(stderr, "want ls, retry or drop, and a FILE")
	}
	verb, file, rest := pos[0], pos[1], pos[2:]
	var seqs []uint64
	for _, s := range rest {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return f.usageError(stderr, "bad SEQ %q", s)
		}
		seqs = append(seqs, n)
	}
	switch {
	case verb != "ls" && verb != "retry" && verb != "drop":
		return f.usageError(stderr, "unknown outbox command %q: want ls, retry or drop", verb)
	case verb == "ls" && (len(seqs) > 0 || *all):
		return f.usageError(stderr, "ls takes only a FILE")
	case verb != "ls" && (len(seqs) > 0) == *all:
		return f.usageError(stderr, "%s wants SEQ... or --all", verb)
	case *wait <= 0:
		return f.usageError(stderr, "--wait must be positive")
	}
	store, err := zgbolt.OpenOutboxStore(file, zgbolt.WithOpenTimeout(*wait))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard outbox:", err)
		return exitFail
	}
	defer store.Close()
	if verb == "ls" {
		return outboxLs(store, file, *dead, *asJSON, stdout, stderr)
	}
	if *all {
		deadOnes, err := listAll(store.Dead)
		if err != nil {
			fmt.Fprintln(stderr, "zmqguard outbox:", err)
			return exitFail
		}
		for _, e := range deadOnes {
			seqs = append(seqs, e.Seq)
		}
	}
	failed := false
	for _, seq := range seqs {
		if verb == "retry" {
			_, err = store.Revive(seq)
		} else {
			err = store.Drop(seq)
		}
		switch {
		case errors.Is(err, reliable.ErrNotFound):
			fmt.Fprintf(stderr, "zmqguard outbox: %d is not a dead letter\n", seq)
			failed = true
		case err != nil:
			fmt.Fprintln(stderr, "zmqguard outbox:", err)
			return exitFail
		default:
			fmt.Fprintf(stdout, "%s %d\n", map[string]string{"retry": "pending", "drop": "dropped"}[verb], seq)
		}
	}
	if failed {
		return exitFail
	}
	return exitOK
}

// listAll pages through a listing.
func listAll(list func(after uint64, max int) ([]reliable.OutboxEntry, error)) ([]reliable.OutboxEntry, error) {
	var out []reliable.OutboxEntry
	var after uint64
	for {
		page, err := list(after, outboxPage)
		if err != nil || len(page) == 0 {
			return out, err
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func outboxLs(store *zgbolt.OutboxStore, file string, deadOnly, asJSON bool, stdout, stderr io.Writer) int {
	id, _ := store.ClientID()
	last, err := store.LastSeq()
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard outbox:", err)
		return exitFail
	}
	doc := outboxList{File: file, ClientID: fmt.Sprintf("%016x", id), LastSeq: last, Entries: []outboxEntry{}}
	add := func(list func(uint64, int) ([]reliable.OutboxEntry, error), state string) error {
		es, err := listAll(list)
		for _, e := range es {
			n := 0
			for _, fr := range e.Request {
				n += len(fr)
			}
			doc.Entries = append(doc.Entries, outboxEntry{Seq: e.Seq, State: state, Queued: e.Queued.UTC().Format(time.RFC3339Nano),
				Bytes: n, Reason: e.Reason, Request: strs(e.Request)})
		}
		return err
	}
	if !deadOnly {
		err = add(store.Pending, "pending")
	}
	if err == nil {
		err = add(store.Dead, "dead")
	}
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard outbox:", err)
		return exitFail
	}
	if asJSON {
		printJSON(stdout, doc)
		return exitOK
	}
	fmt.Fprintf(stdout, "outbox %s: client %s, last request %d, %d listed\n", file, doc.ClientID, last, len(doc.Entries))
	for _, e := range doc.Entries {
		line := fmt.Sprintf("%-8d %-7s %s %6d bytes %q", e.Seq, e.State, e.Queued, e.Bytes, preview(e.Request))
		if e.Reason != "" {
			line += "  " + e.Reason
		}
		fmt.Fprintln(stdout, line)
	}
	return exitOK
}

// preview is the start of a request, for a listing line.
func preview(frames []string) string {
	s := strings.Join(frames, "|")
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
