package reliable

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/internal/ctxerr"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// Client sends requests and returns replies, and never hangs: each attempt
// has a timeout, attempts are capped with backoff between them, the whole
// call is bounded by its context, and a request whose peer disconnects
// fails over early instead of waiting out its timeout. It never returns a
// reply that belongs to another request or to an earlier attempt.
//
// A Client is safe for concurrent use by many goroutines. In Correlated
// mode their requests are in flight at the same time; in Plain mode they
// take turns.
type Client struct {
	cfg      clientConfig
	zctx     *zmq.Context
	clientID uint64
	eps      []*endpoint // correlated mode: one DEALER each
	plain    *plainConn  // plain mode
	counters clientCounters

	seq atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]*call // by Seq
	closed  bool

	// closing ends, with cause ErrClientClosed, when Close is called: every
	// wait of a request in flight ends with it.
	closing     context.Context
	stopClosing context.CancelCauseFunc
}

// call is a request waiting for its reply.
type call struct {
	seq     uint64
	attempt uint32    // the attempt whose reply is accepted; guarded by Client.mu
	ep      *endpoint // the endpoint of that attempt; guarded by Client.mu
	replies chan reply
	// idFrame holds the ID frame of the attempt being sent. It is an
	// allocation of its own: cgo refuses a pointer into memory that also
	// holds Go pointers.
	idFrame []byte
}

type reply struct {
	kind wire.Kind
	body [][]byte
	err  error // the reply is not acceptable (checkReply): the attempt fails with err
}

// NewClient creates a client for the given endpoints, on zctx. The
// endpoints are tried in order of health; with one endpoint every attempt
// goes there.
func NewClient(zctx *zmq.Context, endpoints []string, opts ...ClientOption) (*Client, error) {
	if zctx == nil {
		return nil, errors.New("reliable: NewClient: nil *zmq.Context")
	}
	if len(endpoints) == 0 {
		return nil, errors.New("reliable: NewClient: no endpoints")
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	cfg := defaultClientConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, zctx: zctx, clientID: randomID(), pending: make(map[uint64]*call)}
	c.closing, c.stopClosing = context.WithCancelCause(context.Background())
	c.closing = withStop(c.closing, c.stopClosing) // Context.Term ends it too
	if cfg.mode == Plain {
		c.plain = newPlainConn(c, endpoints)
		return c, nil
	}
	for _, addr := range endpoints {
		ep, err := openEndpoint(zctx, &cfg, addr, zmq.DEALER, c.closing)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reliable: endpoint %s: %w", addr, err)
		}
		c.eps = append(c.eps, ep)
	}
	return c, nil
}

func randomID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats { return c.counters.snapshot() }

// Close closes the client's sockets and waits for its goroutines. Requests
// in flight, and requests waiting for their turn in Plain mode, return
// ErrClientClosed at once instead of waiting out their attempts. Close is
// idempotent. A client whose zmq.Context is terminated (Context.Term
// closes its sockets) behaves as closed from then on; Close it all the
// same.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	// Wake every request in flight: its waits end with closing, and it
	// returns ErrClientClosed instead of trying again.
	c.stopClosing(ErrClientClosed)
	if c.plain != nil {
		c.plain.close()
	}
	for _, ep := range c.eps {
		ep.shutdown()
	}
	return nil
}

// isClosed reports whether Close was called.
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) emit(ev ClientEvent) {
	if c.cfg.hook != nil {
		c.cfg.hook(ev)
	}
}

// Request sends parts as one request and returns the reply's frames. An
// error reply from a zmqguard server is returned as a *RemoteError. When
// the request gives up it returns a *NoReplyError matching ErrNoReply, its
// last cause and, if the context ended it, the context's error.
func (c *Client) Request(ctx context.Context, parts ...[]byte) ([][]byte, error) {
	c.counters.requests.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, c.giveUp(0, 0, nil, err, time.Now())
	}
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	if err := c.checkRequest(parts); err != nil {
		return nil, err
	}
	if c.plain != nil {
		return c.plain.request(ctx, parts)
	}
	return c.requestCorrelated(ctx, parts)
}

// retry runs attempts until one succeeds or the request gives up.
func (c *Client) retry(ctx context.Context, seq uint64, start time.Time,
	attempt func(ctx context.Context, n int) ([][]byte, error)) ([][]byte, error) {
	var last error
	for n := 1; n <= c.cfg.maxAttempts; n++ {
		if n > 1 {
			delay := c.cfg.backoff.Delay(n-2, c.cfg.rand())
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, c.giveUp(seq, n-1, last, ctx.Err(), start)
			case <-c.closing.Done():
				t.Stop()
				return nil, ErrClientClosed
			}
		}
		c.counters.attempts.Add(1)
		body, err := attempt(ctx, n)
		if err == nil {
			c.counters.replies.Add(1)
			return body, nil
		}
		var re *RemoteError
		if errors.As(err, &re) && !retryableCode(re.Code) {
			c.counters.replies.Add(1)
			c.counters.remoteErrors.Add(1)
			return nil, re
		}
		if errors.Is(err, ErrClientClosed) || c.isClosed() {
			return nil, ErrClientClosed
		}
		last = err
		if cerr := ctxerr.Ended(ctx); cerr != nil {
			return nil, c.giveUp(seq, n, last, cerr, start)
		}
	}
	return nil, c.giveUp(seq, c.cfg.maxAttempts, last, nil, start)
}

func retryableCode(code string) bool {
	return code == wire.CodeOverloaded || code == wire.CodeShutdown
}

func (c *Client) giveUp(seq uint64, attempts int, last, ctxErr error, start time.Time) error {
	c.counters.giveUps.Add(1)
	err := &NoReplyError{Attempts: attempts, Last: last, Ctx: ctxErr}
	c.emit(ClientEvent{Kind: EventGiveUp, Seq: seq, Attempt: attempts, Err: err, Elapsed: time.Since(start)})
	return err
}

// attemptFailed counts and reports a failed attempt.
func (c *Client) attemptFailed(seq uint64, n int, ep string, err error, start time.Time) {
	switch {
	case errors.Is(err, ErrPeerGone), errors.Is(err, ErrNotConnected):
		c.counters.failedFast.Add(1)
	case errors.Is(err, errAttemptTimeout):
		c.counters.timeouts.Add(1)
	}
	c.emit(ClientEvent{Kind: EventAttemptFailed, Seq: seq, Attempt: n, Endpoint: ep, Err: err, Elapsed: time.Since(start)})
}

// errAttemptTimeout is the cause of an attempt that timed out. It matches
// os.ErrDeadlineExceeded.
var errAttemptTimeout error = &attemptTimeoutError{}

type attemptTimeoutError struct{}

func (*attemptTimeoutError) Error() string   { return "reliable: attempt timed out" }
func (*attemptTimeoutError) Timeout() bool   { return true }
func (*attemptTimeoutError) Temporary() bool { return true }
func (*attemptTimeoutError) Is(target error) bool {
	return target == osErrDeadlineExceeded
}
