package zmq

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/engine"
)

const (
	// DefaultLinger is the LINGER that zmqguard sets on every new socket:
	// Close delivers queued messages for at most this long, then drops
	// them. libzmq's own default is to wait forever, which is how
	// zmq_ctx_term and finalizers hang. Change it per context with
	// WithLinger or per socket with SetLinger.
	DefaultLinger = time.Second
	// DefaultTermTimeout bounds Context.Term. See WithTermTimeout.
	DefaultTermTimeout = 10 * time.Second
)

// Context is a libzmq context: it owns the I/O threads and every socket
// created from it. Unlike pebbe/zmq4's, it remembers its open sockets, so
// Term closes them (instead of hanging on them) and is bounded.
//
// A Context is safe for concurrent use.
type Context struct {
	raw         *zmq4.Context
	linger      time.Duration
	termTimeout time.Duration
	retryEINTR  atomic.Bool
	nextID      atomic.Uint64 // monitor endpoints
	// shared is set on the default context, which is pebbe/zmq4's too:
	// its pebbe-side EINTR setting is left to pebbe-based code.
	shared bool
	// seamFallback makes sockets use pebbe/zmq4's calls instead of the
	// direct seam; tests set it to keep the fallback honest.
	seamFallback bool

	mu      sync.Mutex
	sockets map[*Socket]struct{}
	closed  bool
	// termDone is closed when zmq_ctx_term has returned termErr. A Term
	// that timed out leaves it open; a later Term waits for it again.
	termDone chan struct{}
	termErr  error
	// busy counts calls blocked inside libzmq on the context's sockets
	// (Proxy, Poller.Poll, which Reactor.Run uses); idle is closed when it
	// drops to zero during Term, which must not close sockets under them.
	busy int
	idle chan struct{}
	// auth is the context's ZAP handler, if StartAuth started one.
	auth *Authenticator
}

// ContextOption configures a Context.
type ContextOption func(*Context) error

// WithLinger sets the LINGER given to every socket of the context. Zero
// drops unsent messages at Close; a negative value waits forever (libzmq's
// own default, not recommended).
func WithLinger(d time.Duration) ContextOption {
	return func(c *Context) error { c.linger = d; return nil }
}

// WithTermTimeout bounds Term. Term first closes every socket the context
// created, so it only waits when a socket created outside zmqguard (through
// Raw) is still open. It must be positive.
func WithTermTimeout(d time.Duration) ContextOption {
	return func(c *Context) error {
		if d <= 0 {
			return &OptionError{Option: "WithTermTimeout", Reason: "must be positive"}
		}
		c.termTimeout = d
		return nil
	}
}

// OptionError reports an invalid option passed to a constructor. Every
// zmqguard constructor refuses a bad option with one, so errors.As finds
// it whatever the package.
type OptionError struct {
	Option string // the option's name, e.g. "WithTermTimeout"
	Reason string
	Err    error // the underlying error, if any
}

// Error says which option was refused and why.
func (e *OptionError) Error() string { return "zmq: invalid option " + e.Option + ": " + e.Reason }

// Unwrap returns the underlying error, if any.
func (e *OptionError) Unwrap() error { return e.Err }

// ErrNilOption is the error of every zmqguard constructor given a nil
// option: an *OptionError, so errors.As finds it like any refused option.
var ErrNilOption error = &OptionError{Option: "<nil>", Reason: "nil option"}

// NewContext creates a context. It accepts options where pebbe/zmq4's takes
// none; calls written for pebbe/zmq4 compile unchanged. Its ZMQ_MAX_SOCKETS
// is the process's file limit (at least libzmq's 1023, at most 65535)
// instead of libzmq's 1023, which counts closed sockets that libzmq has
// not reaped yet (see SocketLimitError); SetMaxSockets before the first
// socket changes it.
func NewContext(opts ...ContextOption) (*Context, error) {
	raw, err := zmq4.NewContext()
	if err != nil {
		return nil, wrapErr(err)
	}
	// pebbe terminates a forgotten context in a finalizer. Sockets are not
	// closed by finalizers here (see Socket), so that zmq_ctx_term would
	// block the runtime's finalizer goroutine for good. Term explicitly.
	runtime.SetFinalizer(raw, nil)
	// Before the first socket, when libzmq sizes its socket table: see
	// socketlimit.go.
	if err := raw.SetMaxSockets(defaultMaxSockets()); err != nil {
		raw.Term()
		return nil, wrapErr(err)
	}
	return wrapContext(raw, false, opts...)
}

func wrapContext(raw *zmq4.Context, shared bool, opts ...ContextOption) (*Context, error) {
	c := &Context{raw: raw, linger: DefaultLinger, termTimeout: DefaultTermTimeout,
		sockets: make(map[*Socket]struct{}), shared: shared}
	c.retryEINTR.Store(true)
	if !shared {
		// zmqguard retries EINTR itself, keeping deadlines; pebbe/zmq4
		// would restart the full timeout of a poll on each interruption.
		// Not on the default context: pebbe-based code (and pebbe's own
		// ZAP handler, which quits on an error) shares it and expects
		// pebbe's setting.
		raw.SetRetryAfterEINTR(false)
	}
	// As internal/option.Apply does for the other packages: every option
	// is tried, and every refusal reported.
	var errs []error
	for _, o := range opts {
		err := ErrNilOption
		if o != nil {
			err = o(c)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		raw.Term()
		if len(errs) == 1 {
			err = errs[0]
		}
		return nil, err
	}
	return c, nil
}

var defaultCtx struct {
	once sync.Once
	ctx  *Context
	err  error
}

// defaultContext wraps pebbe/zmq4's default context, so that sockets made
// with the package-level NewSocket share it with pebbe-based code (and with
// pebbe's ZAP handler, which only serves that context).
func defaultContext() (*Context, error) {
	defaultCtx.once.Do(func() {
		s, err := zmq4.NewSocket(zmq4.PAIR)
		if err != nil {
			defaultCtx.err = wrapErr(err)
			return
		}
		raw, err := s.Context()
		s.Close()
		if err != nil {
			defaultCtx.err = wrapErr(err)
			return
		}
		defaultCtx.ctx, defaultCtx.err = wrapContext(raw, true)
	})
	return defaultCtx.ctx, defaultCtx.err
}

// NewSocket creates a socket in the default context, like pebbe/zmq4.
// New code should create its own Context.
func NewSocket(t Type) (*Socket, error) {
	c, err := defaultContext()
	if err != nil {
		return nil, err
	}
	return c.NewSocket(t)
}

// Term terminates the default context. See Context.Term.
func Term() error {
	c, err := defaultContext()
	if err != nil {
		return err
	}
	return c.Term()
}

// SetRetryAfterEINTR sets whether calls on sockets of the default context
// retry after EINTR. See Context.SetRetryAfterEINTR.
func SetRetryAfterEINTR(retry bool) {
	if c, err := defaultContext(); err == nil {
		c.SetRetryAfterEINTR(retry)
	}
}

// GetRetryAfterEINTR reports whether the default context retries after EINTR.
func GetRetryAfterEINTR() bool {
	c, err := defaultContext()
	return err == nil && c.GetRetryAfterEINTR()
}

// Raw returns the underlying pebbe/zmq4 context, for handing to code that
// has not migrated yet. Sockets created through it are not tracked: close
// them before Term.
func (c *Context) Raw() *zmq4.Context { return c.raw }

// SetRetryAfterEINTR sets whether calls retry after EINTR (the default).
// zmqguard's retries keep the call's original deadline. With false, EINTR
// is returned to the caller, as in pebbe/zmq4.
//
// On the default context, the setting is pebbe/zmq4's as well, because
// pebbe-based code shares that context.
func (c *Context) SetRetryAfterEINTR(retry bool) {
	c.retryEINTR.Store(retry)
	if c.shared {
		c.raw.SetRetryAfterEINTR(retry)
	}
}

// GetRetryAfterEINTR reports whether calls retry after EINTR.
func (c *Context) GetRetryAfterEINTR() bool { return c.retryEINTR.Load() }

// NewSocket creates a socket of type t, with LINGER set to the context's
// linger (DefaultLinger unless changed).
func (c *Context) NewSocket(t Type) (*Socket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrorContextClosed
	}
	s, err := newSocket(c, t)
	if err != nil {
		return nil, c.socketLimitErr(err)
	}
	c.sockets[s] = struct{}{}
	return s, nil
}

func (c *Context) forget(s *Socket) {
	c.mu.Lock()
	delete(c.sockets, s)
	c.mu.Unlock()
}

// Term terminates the context. It is idempotent and bounded: it wakes
// every call blocked on the context's sockets (they return errors matching
// net.ErrClosed), closes every socket the context created, then waits for
// libzmq to finish, at most the term timeout (DefaultTermTimeout), after
// which it returns ErrTermTimeout.
//
// A Term that returned ErrTermTimeout left libzmq terminating in the
// background; calling Term again (after closing the socket that held it
// up) waits for that termination again, at most the term timeout.
func (c *Context) Term() error {
	c.mu.Lock()
	if c.closed {
		done := c.termDone
		c.mu.Unlock()
		return c.awaitTerm(done, time.NewTimer(c.termTimeout))
	}
	c.closed = true
	done := make(chan struct{})
	c.termDone = done
	socks := make([]*Socket, 0, len(c.sockets))
	for s := range c.sockets {
		socks = append(socks, s)
	}
	var idle chan struct{}
	if c.busy > 0 {
		idle = make(chan struct{})
		c.idle = idle
	}
	c.mu.Unlock()
	timer := time.NewTimer(c.termTimeout)

	// Wake callers blocked inside libzmq (Poll, Proxy) with ETERM.
	engine.ShutdownContext(c.raw)
	// Closing a socket under a call still running inside libzmq would be
	// a use after free: let those calls return first.
	if idle != nil {
		select {
		case <-idle:
		case <-timer.C:
			timer.Reset(0)
		}
	}
	// Monitored sockets first: closing them stops their monitors, whose
	// own sockets then close themselves.
	for _, s := range socks {
		if !s.internal {
			s.Close()
		}
	}
	for _, s := range socks {
		s.Close()
	}
	// Closing its socket ended the ZAP handler: let it return.
	c.mu.Lock()
	auth := c.auth
	c.auth = nil
	c.mu.Unlock()
	if auth != nil {
		auth.mu.Lock()
		done := auth.done
		auth.mu.Unlock()
		select {
		case <-done:
		case <-timer.C:
			timer.Reset(0)
		}
	}

	go func() {
		err := engine.TermContext(c.raw)
		c.mu.Lock()
		c.termErr = wrapErr(err)
		c.mu.Unlock()
		close(done)
	}()
	return c.awaitTerm(done, timer)
}

// awaitTerm waits until libzmq's termination is done or timer fires.
func (c *Context) awaitTerm(done <-chan struct{}, timer *time.Timer) error {
	defer timer.Stop()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.termErr
	case <-timer.C:
		return ErrTermTimeout
	}
}

// usable returns ErrorContextClosed once Term has begun: libzmq's context
// may be gone, and pebbe/zmq4 (whose Term zmqguard does not call) would not
// know it.
func (c *Context) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrorContextClosed
	}
	return nil
}

// enter registers a call about to block inside libzmq on the context's
// sockets; it fails once Term has begun. Call leave when it returns.
func (c *Context) enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrorContextClosed
	}
	c.busy++
	return nil
}

func (c *Context) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy--; c.busy == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// retry runs f again while it fails with EINTR and the context retries.
func (c *Context) retry(f func() error) error {
	for {
		err := wrapErr(f())
		if err == nil || !isIntr(err) || !c.retryEINTR.Load() {
			return err
		}
	}
}
