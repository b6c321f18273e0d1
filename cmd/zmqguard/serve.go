package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// serveEvent is one line of serve's --json output.
type serveEvent struct {
	Event    string                `json:"event"` // "listening", "request" or "stopped"
	Endpoint string                `json:"endpoint,omitempty"`
	Request  []string              `json:"request,omitempty"`
	Error    string                `json:"error,omitempty"`
	Stats    *reliable.ServerStats `json:"stats,omitempty"`
}

func runServe(args []string, stdout, stderr io.Writer) int {
	f := newFlags("serve", "zmqguard serve [flags] ENDPOINT\n\n"+
		"Binds a ROUTER socket to ENDPOINT (tcp://127.0.0.1:* picks a free port)\n"+
		"and answers every request with reliable.Server: by default it echoes\n"+
		"the request; with --exec it runs CMD with sh -c, the request's frames on\n"+
		"its stdin (one per line), and replies with its stdout. A failing\n"+
		"command is answered with an error reply (code \"exec\"). It prints\n"+
		"\"serving on ENDPOINT\" and runs until SIGINT or SIGTERM, then shuts\n"+
		"down gracefully and prints its counters.", stdout)
	execCmd := f.String("exec", "", "run this shell command per request; reply with its stdout")
	handlerTimeout := f.Duration("handler-timeout", reliable.DefaultHandlerTimeout, "deadline of each request (0: none)")
	verbose := f.Bool("verbose", false, "log every request to stderr (--json: to stdout)")
	asJSON := f.Bool("json", false, "print events as JSON lines")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		return f.usageError(stderr, "want exactly one ENDPOINT")
	}
	if err := checkEndpoint("bind", pos[0]); err != nil {
		return f.usageError(stderr, "%v", err)
	}
	if *handlerTimeout < 0 {
		return f.usageError(stderr, "--handler-timeout must not be negative")
	}

	var outMu sync.Mutex
	emit := func(ev serveEvent, text string) {
		outMu.Lock()
		defer outMu.Unlock()
		if *asJSON {
			printJSON(stdout, ev)
		} else if text != "" {
			fmt.Fprintln(stdout, text)
		}
	}
	handler := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return req, nil
	}
	if *execCmd != "" {
		handler = execHandler(*execCmd)
	}
	logged := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		rep, err := handler(ctx, req)
		if *verbose {
			ev := serveEvent{Event: "request", Request: strs(req)}
			text := fmt.Sprintf("request %q", strs(req))
			if err != nil {
				ev.Error = err.Error()
				text += ": " + err.Error()
			}
			if *asJSON {
				emit(ev, "")
			} else {
				outMu.Lock()
				fmt.Fprintln(stderr, text)
				outMu.Unlock()
			}
		}
		return rep, err
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(time.Second))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	defer zctx.Term()
	srv, err := reliable.Listen(zctx, pos[0], logged, reliable.WithHandlerTimeout(*handlerTimeout))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	emit(serveEvent{Event: "listening", Endpoint: srv.Addr()}, "serving on "+srv.Addr())

	exit := exitOK
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			fmt.Fprintln(stderr, "zmqguard serve: shutdown:", err)
			_ = srv.Close()
		}
		cancel()
		<-served
	case err := <-served:
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		exit = exitFail
	}
	st := srv.Stats()
	emit(serveEvent{Event: "stopped", Stats: &st}, fmt.Sprintf(
		"stopped: %d requests, %d executed, %d replies (%d errors), %d duplicates answered without running",
		st.Requests, st.Executed, st.Replies, st.ErrorReplies, st.DuplicatesInFlight+st.DuplicatesCached))
	return exit
}

// execHandler runs command with sh -c per request.
func execHandler(command string) reliable.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Stdin = bytes.NewReader(bytes.Join(req, []byte("\n")))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			msg := err.Error()
			if s := strings.TrimSpace(errOut.String()); s != "" {
				if len(s) > 200 {
					s = s[:200] + "..."
				}
				msg += ": " + s
			}
			return nil, &reliable.RemoteError{Code: "exec", Message: msg}
		}
		return [][]byte{out.Bytes()}, nil
	}
}
