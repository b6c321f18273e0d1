package reliable

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults for Outbox options.
const (
	// DefaultOutboxMaxPending bounds the requests an Outbox holds pending
	// (WithOutboxMaxPending).
	DefaultOutboxMaxPending = 1024
	// outboxPage is how many pending requests a replay reads at a time.
	outboxPage = 256
)

// Delivery is what an Outbox delivers for a request: its reply, or its
// error reply, or its give-up.
type Delivery struct {
	Seq     uint64   // the request number Submit returned
	Request [][]byte // the request's frames
	Reply   [][]byte // the reply's frames, when Err is nil
	// Err is a *RemoteError for an error reply (ErrOutcomeUnknown among
	// them), or, with DeadLettered, the *NoReplyError it gave up with.
	Err error
	// DeadLettered says the request gave up and is now a dead letter
	// (Outbox.DeadLetters), to retry or drop.
	DeadLettered bool
	// Replayed says the request was submitted by an earlier run of the
	// process, or revived from the dead letters.
	Replayed bool
}

// Outbox is a Client whose requests outlive its process: Submit writes a
// request to an OutboxStore before it is sent, and the request stays
// there until its reply has been handed to the deliver function. An
// Outbox opened on the store of one that died (SIGKILL, power loss within
// the store's sync policy) sends the pending requests again, with their
// request ids (the store keeps the client id and the numbers), so that a
// server with a reply store (WithReplyStore) answers them from it instead
// of running them twice. A request that gives up is moved to the dead
// letters, which the application lists, retries or drops (DeadLetters,
// Retry, Drop; `zmqguard outbox` on a stopped process's store).
//
// Delivery is at least once: a reply delivered just before a crash, and
// not yet removed from the store, is delivered again after the restart
// (with Replayed set); tell them apart by Seq. docs/DURABILITY.md has the
// guarantees at each crash point.
//
// A request is sent as soon as it is submitted; with WithOutboxRetryFor a
// request that gives up is sent again until it is that old, so requests
// submitted while no server is reachable are delivered when one comes
// (store and forward).
//
// Concurrency: Submit, DeadLetters, Retry, Drop and Close are safe for
// concurrent use. deliver is called from the Outbox's goroutines,
// concurrently for requests in flight at the same time; Close waits for
// the calls in progress. A deliver that panics ends the process, as any
// goroutine's panic does; its request is still pending, and is delivered
// again after the restart.
type Outbox struct {
	c       *Client
	store   OutboxStore
	deliver func(Delivery)
	cfg     outboxConfig

	room   chan struct{} // a token per pending request in this process
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool // no goroutine starts once set
}

type outboxConfig struct {
	maxPending int
	retryFor   time.Duration
	client     []ClientOption
}

// OutboxOption configures an Outbox. Invalid values, and a nil option,
// make NewOutbox return a *zmq.OptionError.
type OutboxOption func(*outboxConfig) error

// WithOutboxClient passes options to the Client the Outbox sends with.
// WithMode(Plain) is refused: a replay needs the request id.
func WithOutboxClient(opts ...ClientOption) OutboxOption {
	return func(c *outboxConfig) error { c.client = append(c.client, opts...); return nil }
}

// WithOutboxMaxPending bounds the requests in flight or waiting for a
// retry (DefaultOutboxMaxPending): Submit waits for room. At least 1.
func WithOutboxMaxPending(n int) OutboxOption {
	return func(c *outboxConfig) error {
		if n < 1 {
			return optionError("WithOutboxMaxPending", fmt.Sprintf("%d < 1", n))
		}
		c.maxPending = n
		return nil
	}
}

// WithOutboxRetryFor sends a request that gave up again, after the
// client's backoff, until d has passed since it was submitted; only then
// is it a dead letter. Zero (the default) makes the first give-up a dead
// letter. Negative values are invalid.
func WithOutboxRetryFor(d time.Duration) OutboxOption {
	return func(c *outboxConfig) error {
		if d < 0 {
			return optionError("WithOutboxRetryFor", "must not be negative")
		}
		c.retryFor = d
		return nil
	}
}

// NewOutbox creates an Outbox on store, sending to endpoints as a Client
// on zctx would, and delivering each reply, error reply and give-up to
// deliver. It starts sending the requests store holds pending at once.
func NewOutbox(zctx *zmq.Context, endpoints []string, store OutboxStore, deliver func(Delivery), opts ...OutboxOption) (*Outbox, error) {
	if store == nil || deliver == nil {
		return nil, errors.New("reliable: NewOutbox: nil store or deliver function")
	}
	cfg := outboxConfig{maxPending: DefaultOutboxMaxPending}
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	id, err := store.ClientID()
	if err != nil {
		return nil, fmt.Errorf("reliable: outbox store: %w", err)
	}
	last, err := store.LastSeq()
	if err != nil {
		return nil, fmt.Errorf("reliable: outbox store: %w", err)
	}
	c, err := NewClient(zctx, endpoints, cfg.client...)
	if err != nil {
		return nil, err
	}
	if c.plain != nil {
		c.Close()
		return nil, optionError("WithOutboxClient", "an outbox needs the Correlated mode")
	}
	// No request is in flight yet: the id and the numbering are the store's.
	c.clientID = id
	c.seq.Store(last)
	o := &Outbox{c: c, store: store, deliver: deliver, cfg: cfg, room: make(chan struct{}, cfg.maxPending)}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wg.Add(1) // before any Close
	go o.replay()
	return o, nil
}

// Client returns the Client the Outbox sends with, for its Stats.
func (o *Outbox) Client() *Client { return o.c }

// Submit writes a request to the store and sends it; its reply, error
// reply or give-up goes to the deliver function. It returns the request's
// number once the request is stored, having waited for room
// (WithOutboxMaxPending) until ctx ended. A request over the client's
// WithMaxRequestSize is refused (*TooLargeError) and not stored.
func (o *Outbox) Submit(ctx context.Context, parts ...[]byte) (uint64, error) {
	if err := o.c.checkRequest(parts); err != nil {
		return 0, err
	}
	if err := o.take(ctx); err != nil {
		return 0, err
	}
	e := OutboxEntry{Seq: o.c.seq.Add(1), Request: parts, Queued: time.Now()}
	if err := o.store.Add(e); err != nil {
		<-o.room
		return 0, fmt.Errorf("reliable: outbox store: %w", err)
	}
	o.start(e, false)
	return e.Seq, nil
}

// take waits for room for one more pending request.
func (o *Outbox) take(ctx context.Context) error {
	select {
	case o.room <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-o.ctx.Done():
		return ErrClientClosed
	}
}

// replay sends what the store held pending when the Outbox opened.
func (o *Outbox) replay() {
	defer o.wg.Done()
	var after uint64
	for {
		page, err := o.store.Pending(after, outboxPage)
		if err != nil || len(page) == 0 {
			return // a store that fails to list keeps its requests for the next run
		}
		for _, e := range page {
			if o.take(o.ctx) != nil {
				return
			}
			after = e.Seq
			o.start(e, true)
		}
	}
}

// start sends e on a goroutine of its own, which gives back e's room;
// after Close, e stays pending in the store.
func (o *Outbox) start(e OutboxEntry, replayed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		<-o.room
		return
	}
	o.wg.Add(1)
	go o.send(e, replayed)
}

// send sends e until it has a reply or gives up for good, and delivers
// the outcome. A request cut short by Close stays pending in the store.
func (o *Outbox) send(e OutboxEntry, replayed bool) {
	defer o.wg.Done()
	defer func() { <-o.room }()
	for n := 0; ; n++ {
		reply, err := o.c.requestSeq(o.ctx, e.Seq, e.Request)
		if o.ctx.Err() != nil || errors.Is(err, ErrClientClosed) {
			return
		}
		d := Delivery{Seq: e.Seq, Request: e.Request, Reply: reply, Err: err, Replayed: replayed}
		if errors.Is(err, ErrNoReply) {
			if time.Since(e.Queued) < o.cfg.retryFor {
				if !o.pause(n) {
					return
				}
				continue
			}
			if o.store.Bury(e.Seq, err.Error()) != nil {
				return // still pending: the next run sends it again
			}
			d.DeadLettered = true
			o.deliver(d)
			return
		}
		o.deliver(d)
		// Forgotten once delivered; a failure here makes it a
		// redelivery after a restart, which at least once allows.
		_ = o.store.Remove(e.Seq)
		return
	}
}

// pause waits the client's backoff before the retry after give-up n,
// and reports false if the Outbox closed meanwhile.
func (o *Outbox) pause(n int) bool {
	t := time.NewTimer(o.c.cfg.backoff.Delay(min(n, 16), o.c.cfg.rand()))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-o.ctx.Done():
		return false
	}
}

// DeadLetters returns up to max dead letters with numbers above after, in
// order.
func (o *Outbox) DeadLetters(after uint64, max int) ([]OutboxEntry, error) {
	return o.store.Dead(after, max)
}

// Retry moves dead letter seq back to the pending requests and sends it
// again, waiting for room until ctx ends.
func (o *Outbox) Retry(ctx context.Context, seq uint64) error {
	if err := o.take(ctx); err != nil {
		return err
	}
	e, err := o.store.Revive(seq)
	if err != nil {
		<-o.room
		return err
	}
	o.start(e, true)
	return nil
}

// Drop forgets dead letter seq.
func (o *Outbox) Drop(seq uint64) error { return o.store.Drop(seq) }

// Close stops sending, waits for the deliveries in progress and closes
// the client. Requests without a delivered reply stay pending in the
// store, for the next Outbox on it. The store stays open. Close is
// idempotent.
func (o *Outbox) Close() error {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	return o.c.Close()
}
