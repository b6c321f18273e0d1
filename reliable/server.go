package reliable

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// Handler serves one request: req holds the body frames (the envelope and
// request id are the server's business). It returns the reply's body
// frames, or an error that the client receives as an error reply
// (docs/PROTOCOL.md section 5.1, a *RemoteError on a reliable.Client):
//
//   - an error that has a method ReplyError() (code, message string) in
//     its chain (errors.As), such as *RemoteError, is answered with the
//     code and message it returns (wire.CodeHandler for an empty code):
//     this is how a handler chooses its error reply, as a grpc-go handler
//     does with an error that has a GRPCStatus method;
//   - an error matching context.DeadlineExceeded returned once ctx's
//     deadline has passed (the handler gave up at its deadline) is
//     answered with wire.CodeTimeout;
//   - any other error is answered with wire.CodeHandler and its text.
//
// A nil or empty reply is sent as one empty frame. ctx ends at the
// request's deadline (WithHandlerTimeout) and when the server stops; RequestInfoFromContext
// tells who asked.
//
// Handlers run concurrently (see WithConcurrency), each on a goroutine of
// its own. A handler that panics or calls runtime.Goexit is answered with
// wire.CodePanic (the panic value and stack are reported to the server's
// event hook, not sent). The same rules hold for a Handler served by a
// Paranoid Pirate worker (package reliable/ppp).
type Handler func(ctx context.Context, req [][]byte) ([][]byte, error)

var (
	// ErrServerClosed is returned by Serve once Shutdown or Close stopped
	// it, and by Serve on a server that has already stopped. It matches
	// net.ErrClosed.
	ErrServerClosed error = &closedError{"reliable: server closed"}
	// ErrServing is returned by a second call to Serve.
	ErrServing = errors.New("reliable: server already serving")
	// ErrSocketType is returned by NewServer for a socket that is neither
	// ROUTER nor REP.
	ErrSocketType = errors.New("reliable: server socket must be ROUTER or REP")
)

// Server answers requests on a ROUTER or REP socket, one reply each:
// a handler's reply, or an error reply when the handler fails, panics,
// exits its goroutine or overruns its deadline, or when the request is
// malformed. It runs a
// bounded number of handlers at once and suppresses retried requests of
// protocol-aware clients (docs/PROTOCOL.md): a retry is answered with the
// first execution's reply instead of running the handler again.
//
// That holds while the server's process lives, within the dedupe window
// (WithDedupeWindow, WithReplyCache): the reply cache is in memory, so a
// retry of a request that a server which then died had completed, or was
// running, runs the handler again. With WithReplyStore the completed
// requests are answered from a persistent store after a restart too, and
// only the requests that were running at the crash may run again, or, with
// WithOutcomeUnknownReplies, are answered wire.CodeOutcomeUnknown
// (docs/DURABILITY.md).
//
// A plain client (no ID frame) gets an error reply in the plain form
// [wire.PlainErrorMarker, code, message] only when its routing id names it
// a zmqguard client (wire.TakesPlainErrors: reliable.Client in Plain mode,
// ReqSocket); any other plain client speaks only the zguide protocol,
// would take an error reply for its answer, and gets none
// (ServerStats.ErrorsWithheld counts them; docs/PROTOCOL.md section 6).
//
// On a ROUTER socket (NewServer with a ROUTER, or Listen) every feature
// works. On a REP socket the server is serial (one request at a time,
// whatever WithConcurrency says) and cannot suppress duplicates or flag
// error replies in the ID frame, because REP hides the envelope: error
// replies are sent to every client in the plain form.
//
// The server owns its socket from construction on and closes it when it
// stops. It sets these options on it: ZMQ_MAXMSGSIZE (WithMaxMessageSize),
// ZMQ_RCVHWM and ZMQ_SNDHWM (WithServerHWM), ZMQ_HANDSHAKE_IVL
// (WithHandshakeInterval) and, on ROUTER, ZMQ_ROUTER_MANDATORY, so that a
// reply to a vanished peer is counted instead of silently lost (libzmq
// notices a vanished peer up to about a millisecond late; a reply sent in
// that window is lost uncounted). High-water marks apply to connections
// made after they are set, and the server watches only the connections
// accepted after it was made: give NewServer a socket that is not bound
// yet, or use Listen.
//
// Memory is known at start: Budget states the server's worst case, derived
// from its limits (MemoryBudget has the formula; 467 MiB with the
// defaults), and WithMemoryBudget fits the limits to a figure. What a peer
// can make the server hold is bounded, each part by its option:
//
//   - a request, in bytes of all its frames (WithMaxMessageSize) and in
//     body frames (WithMaxRequestFrames): a larger one is answered with
//     wire.CodeTooLarge and never reaches the handler, and the server keeps
//     no more of it than the limit;
//   - requests held by handlers: WithConcurrency of them;
//   - a handler's reply (WithServerMaxReplySize);
//   - requests libzmq holds unread, over all connections (WithRequestQueue),
//     and libzmq's memory (the C heap): connections that make libzmq hold
//     more are dropped (their requests were never read; their clients
//     retry);
//   - replies libzmq holds for peers that do not read them, per connection
//     and in total (WithReplyQueue): a reply beyond is dropped and counted,
//     and the client's retry is answered from the reply cache;
//   - connections (WithMaxConnections): at the cap, the oldest connection
//     that has sent nothing (a stalled handshake) makes room;
//   - completed replies kept for retries (WithReplyCache).
//
// libzmq does not tell what it holds for a connection; the server learns
// it from the socket's monitor, the "__fd" property of requests and the
// kernel's counters of each TCP descriptor, in a goroutine of its own that
// looks every 10 to 20 ms, and drops a connection with shutdown(2) on
// libzmq's descriptor. What stays unbounded: what libzmq reads between two
// looks (counted in the budget), the queues of ipc and inproc peers in
// bytes (the kernel counts nothing for them), connections that each sent a
// request and stay (only authentication keeps such peers out: CURVE with
// ZAP), CPU, and the handlers' own allocations. docs/PROTOCOL.md section 11
// has the details. On a socket that already has a monitor, or on systems
// other than Linux, connections are neither capped nor measured
// (Budget().Enforced is false).
//
// Concurrency: Serve runs the serve loop, the only goroutine that touches
// the socket; call it once. Shutdown, Close, Stats and Budget are safe to
// call from any goroutine at any time.
type Server struct {
	sock    *zmq.Socket
	handler Handler
	cfg     serverConfig
	rep     bool
	addr    string
	ctr     serverCounters

	budget MemoryBudget // stated at construction
	conns  *connWatch   // nil: connections are not watched

	mu       sync.Mutex
	state    serverState
	shutdown bool               // Shutdown was called
	closed   bool               // Close was called
	cancel   context.CancelFunc // ends the running Serve (Close)
	loopDone chan struct{}      // closed when the running Serve's loop ends
	done     []*serverCall      // finished handler calls, for the loop
	wake     context.CancelFunc // wakes the loop when it waits; nil otherwise
}

type serverState int

const (
	stateNew serverState = iota
	stateServing
	stateStopped
)

// NewServer returns a server answering on sock, a ROUTER (recommended) or
// REP socket, with handler h. The server owns sock from now on; it sets
// the options listed on Server, and starts watching the socket's
// connections (a goroutine, stopped when Serve returns or by Close: close
// a server that is never served). Call Serve to start answering.
func NewServer(sock *zmq.Socket, h Handler, opts ...ServerOption) (*Server, error) {
	if sock == nil || h == nil {
		return nil, errors.New("reliable: NewServer needs a socket and a handler")
	}
	cfg := defaultServerConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	typ := sock.Type()
	if typ != zmq.ROUTER && typ != zmq.REP {
		return nil, fmt.Errorf("%w, got %v", ErrSocketType, typ)
	}
	s := &Server{sock: sock, handler: h, cfg: cfg, rep: typ == zmq.REP}
	if s.rep {
		s.cfg.concurrency = 1
	}
	if err := s.limitMemory(); err != nil {
		return nil, err
	}
	if err := s.configure(); err != nil {
		return nil, err
	}
	s.watchConns()
	return s, nil
}

// Listen creates a ROUTER socket on zctx, configures it (the options
// listed on Server, then WithServerSocketSetup's function), binds it to
// endpoint and returns a server answering on it with handler h. A
// wildcard endpoint such as tcp://127.0.0.1:* is resolved: Addr returns
// the address to connect to.
func Listen(zctx *zmq.Context, endpoint string, h Handler, opts ...ServerOption) (*Server, error) {
	if zctx == nil {
		return nil, errors.New("reliable: Listen needs a zmq.Context")
	}
	sock, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		return nil, err
	}
	s, err := NewServer(sock, h, opts...)
	if err == nil && s.cfg.setup != nil {
		err = s.cfg.setup(sock)
	}
	if err == nil {
		err = sock.Bind(endpoint)
	}
	if err == nil {
		s.addr, err = sock.GetLastEndpoint()
	}
	if err == nil && s.conns != nil {
		s.conns.listening(s.addr)
	}
	if err != nil {
		if s != nil {
			s.Close()
		} else {
			sock.Close()
		}
		return nil, err
	}
	return s, nil
}

// configure sets the server's socket options.
func (s *Server) configure() error {
	if err := s.sock.SetMaxmsgsize(s.cfg.maxMsgSize); err != nil {
		return err
	}
	if err := s.sock.SetRcvhwm(s.cfg.rcvHWM); err != nil {
		return err
	}
	if err := s.sock.SetSndhwm(s.cfg.sndHWM); err != nil {
		return err
	}
	if err := s.sock.SetHandshakeIvl(s.cfg.handshake); err != nil {
		return err
	}
	if !s.rep {
		return s.sock.SetRouterMandatory(1)
	}
	return nil
}

// Addr returns the endpoint a Listen-created server is bound to, with a
// wildcard port resolved; it is empty for a server made with NewServer.
func (s *Server) Addr() string { return s.addr }

// Stats returns the server's counters, and its memory budget.
func (s *Server) Stats() ServerStats {
	st := s.ctr.snapshot()
	st.Budget = s.Budget()
	return st
}

// Serve answers requests until ctx ends, Shutdown completes or Close is
// called, then closes the socket. It returns ErrServerClosed after
// Shutdown or Close, ctx's error when ctx ended it (in-flight handlers'
// contexts are cancelled and their results dropped, like Close), and an
// error from the socket if it failed (for example when the socket's
// context was terminated under it: an error matching net.ErrClosed).
//
// Handler contexts derive from ctx, so they carry its values.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.state == stateServing:
		s.mu.Unlock()
		return ErrServing
	case s.state == stateStopped || s.closed || s.shutdown:
		s.mu.Unlock()
		return ErrServerClosed
	}
	runCtx, cancel := context.WithCancel(ctx)
	s.state, s.cancel, s.loopDone = stateServing, cancel, make(chan struct{})
	s.mu.Unlock()

	if o := s.cfg.observer; o != nil {
		observeBudget(o, s.budget)
	}
	err := newServerLoop(s, runCtx).run()
	cancel()
	s.stopWatch()
	s.sock.Close()

	s.mu.Lock()
	s.state = stateStopped
	closed := s.closed
	close(s.loopDone)
	s.mu.Unlock()
	switch {
	case closed || err == nil: // Close, or Shutdown completed
		return ErrServerClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// Shutdown stops the server gracefully: requests that arrive from now on
// are answered with wire.CodeShutdown (a reliable.Client retries them on
// another endpoint), retries of running or cached requests are still
// answered, running handlers finish and their replies are sent, then the
// socket is closed (unsent replies get the socket's LINGER to leave) and
// Serve returns ErrServerClosed. Shutdown waits for all that, or until ctx
// ends, in which case it returns ctx's error and the server keeps
// draining; call Close to stop it at once. Shutdown waits for every
// handler to return, including ones that overran their deadline.
//
// Shutdown on a server that is not serving closes it. It is safe to call
// more than once and concurrently with Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	switch s.state {
	case stateNew:
		s.state = stateStopped
		s.mu.Unlock()
		s.stopWatch()
		s.sock.Close()
		return nil
	case stateStopped:
		s.mu.Unlock()
		return nil
	}
	done := s.loopDone
	wake := s.wake
	s.wake = nil
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the server at once: the serve loop stops, running handlers'
// contexts are cancelled and their results dropped (their clients get no
// reply from this server), and the socket is closed. Close waits for the
// serve loop, not for handlers; it is idempotent and never hangs.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	switch s.state {
	case stateNew:
		s.state = stateStopped
		s.mu.Unlock()
		s.stopWatch()
		return s.sock.Close()
	case stateStopped:
		s.mu.Unlock()
		return nil
	}
	done, cancel := s.loopDone, s.cancel
	s.mu.Unlock()
	cancel()
	<-done
	return nil
}

// finished hands a completed handler call to the serve loop and wakes it.
func (s *Server) finished(c *serverCall) {
	s.mu.Lock()
	s.done = append(s.done, c)
	wake := s.wake
	s.wake = nil
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// takeDone returns the finished calls and whether Shutdown was called.
// With sleep given, when there are no finished calls and the shutdown flag
// is as sawShutdown says, it registers sleep as the loop's wake function
// before releasing the lock (registered is then true), so that a call
// finishing or a Shutdown arriving afterwards wakes the loop: no lost
// wakeups.
func (s *Server) takeDone(buf []*serverCall, sleep context.CancelFunc, sawShutdown bool) (calls []*serverCall, shutdown, registered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf = append(buf, s.done...)
	clear(s.done)
	s.done = s.done[:0]
	if len(buf) == 0 && sleep != nil && s.shutdown == sawShutdown {
		s.wake = sleep
		registered = true
	}
	return buf, s.shutdown, registered
}

// unregister withdraws the loop's wake function after a wait.
func (s *Server) unregister() {
	s.mu.Lock()
	s.wake = nil
	s.mu.Unlock()
}

// RequestInfo describes the request a handler is serving.
type RequestInfo struct {
	// ID is the request's id; zero for a plain request.
	ID wire.RequestID
	// Plain is true for a request without an ID frame (a plain REQ peer,
	// or any request on a REP server).
	Plain bool
	// RoutingID is the ROUTER routing id of the peer; nil on REP.
	RoutingID []byte
}

type requestInfoKey struct{}

// RequestInfoFromContext returns the RequestInfo of the request whose
// handler got ctx.
func RequestInfoFromContext(ctx context.Context) (RequestInfo, bool) {
	ri, ok := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri, ok
}
