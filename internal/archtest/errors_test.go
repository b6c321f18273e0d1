package archtest

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// closedErrors is every exported "closed" error of the library, by name.
var closedErrors = map[string]error{
	"zmq.ErrorSocketClosed":    zmq.ErrorSocketClosed,
	"zmq.ErrorContextClosed":   zmq.ErrorContextClosed,
	"heartbeat.ErrClosed":      heartbeat.ErrClosed,
	"reliable.ErrClientClosed": reliable.ErrClientClosed,
	"reliable.ErrServerClosed": reliable.ErrServerClosed,
	"ppp.ErrQueueClosed":       ppp.ErrQueueClosed,
	"ppp.ErrWorkerClosed":      ppp.ErrWorkerClosed,
	"bstar.ErrClosed":          bstar.ErrClosed,
	"mdp.ErrBrokerClosed":      mdp.ErrBrokerClosed,
	"mdp.ErrWorkerClosed":      mdp.ErrWorkerClosed,
}

// notConnectionErrors say "closed" of something that is not a connection,
// and deliberately do not match net.ErrClosed: a loop that ends quietly on
// net.ErrClosed must not take a programming error for its socket's end.
var notConnectionErrors = map[string]string{
	"zmq.ErrMsgClosed":    "a zmq.Msg used after its Close",
	"engine.ErrMsgClosed": "the same value, where it is defined",
}

// TestClosedErrorsMatchNetErrClosed: every closed error matches
// net.ErrClosed, and the table above lists every exported error variable
// whose name says "closed" in every library package.
func TestClosedErrorsMatchNetErrClosed(t *testing.T) {
	for name, err := range closedErrors {
		assert.ErrorIs(t, err, net.ErrClosed, name)
	}
	assert.ErrorIs(t, zmq.ETERM, net.ErrClosed, "ETERM: the context is gone")
	assert.NotErrorIs(t, zmq.ErrMsgClosed, net.ErrClosed)

	deps, _ := allowed(t)
	for pkg := range deps {
		for _, name := range exportedErrorVars(t, pkg) {
			if strings.Contains(strings.ToLower(name), "closed") {
				q := filepath.Base(pkg) + "." + name
				_, ok := closedErrors[q]
				if _, other := notConnectionErrors[q]; other {
					continue
				}
				assert.True(t, ok, "%s is a closed error missing from closedErrors", q)
			}
		}
	}
}

// exportedErrorVars lists the exported package-level variables of pkg
// whose names start with Err.
func exportedErrorVars(t *testing.T, pkg string) []string {
	files, err := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
	require.NoError(t, err)
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, sp := range gd.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	return names
}

// TestDeadlineErrorsMatchOsErrDeadlineExceeded: a call ended by its
// context's deadline returns an error that matches both
// context.DeadlineExceeded and os.ErrDeadlineExceeded, in every package,
// and ctx.Err() says so by the time it returns.
func TestDeadlineErrorsMatchOsErrDeadlineExceeded(t *testing.T) {
	zctx := zmqtest.Context(t)
	pull := zmqtest.Socket(t, zctx, zmq.PULL)
	zmqtest.Bind(t, pull, "inproc")
	mute := zmqtest.Socket(t, zctx, zmq.ROUTER)
	ep := zmqtest.Bind(t, mute, "tcp")
	client, err := reliable.NewClient(zctx, []string{ep}, reliable.WithAttemptTimeout(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	tr, err := heartbeat.New()
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })

	calls := map[string]func(ctx context.Context) error{
		"timeout.RecvBytes": func(ctx context.Context) error { _, err := timeout.RecvBytes(ctx, pull); return err },
		"timeout.Wait":      func(ctx context.Context) error { _, err := timeout.Wait(ctx, pull, zmq.POLLIN); return err },
		"reliable.Client.Request": func(ctx context.Context) error {
			_, err := client.Request(ctx, []byte("x"))
			return err
		},
		"heartbeat.Tracker.WaitForStateChange": func(ctx context.Context) error {
			_, err := tr.WaitForStateChange(ctx, "nobody", heartbeat.Unknown)
			return err
		},
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := call(ctx)
		ctxErr := ctx.Err()
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, name)
		assert.ErrorIs(t, ctxErr, context.DeadlineExceeded, "%s returned before ctx.Err() said so", name)
		var ne net.Error
		assert.True(t, errors.As(err, &ne) && ne.Timeout(), "%s: a net.Error with Timeout()", name)
	}

	// A socket's own timeout, without a context, matches too.
	require.NoError(t, pull.SetRcvtimeo(time.Millisecond))
	_, err = pull.RecvBytes(0)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
