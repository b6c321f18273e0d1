package zgslog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zmqguard/zmqguard/observe"
)

// Observer logs events to a *slog.Logger. Make one with New.
type Observer struct {
	log    *slog.Logger
	levels [256]slog.Level // by observe.Kind
}

// Option configures an Observer.
type Option func(*Observer) error

// WithLevel logs events of kind at level instead of its default
// (docs/OBSERVABILITY.md lists the defaults).
func WithLevel(kind observe.Kind, level slog.Level) Option {
	return func(o *Observer) error {
		if kind.String() == "unknown" {
			return fmt.Errorf("zgslog: WithLevel: unknown kind %d", kind)
		}
		o.levels[kind] = level
		return nil
	}
}

// New returns an Observer that logs to log (slog.Default() when nil).
func New(log *slog.Logger, opts ...Option) (*Observer, error) {
	if log == nil {
		log = slog.Default()
	}
	o := &Observer{log: log}
	for _, k := range observe.Kinds() {
		o.levels[k] = DefaultLevel(k)
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("zgslog: New: nil option")
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// DefaultLevel is the level an event of kind is logged at: Debug for the
// expected (messages, attempts, requests done, connections made), Info
// for what changes the picture (peers up, workers joining, the memory
// budget), Warn for what went wrong and was handled, Error for a panic.
func DefaultLevel(kind observe.Kind) slog.Level {
	switch kind {
	case observe.KindPanic:
		return slog.LevelError
	case observe.KindAttemptFailed, observe.KindStale, observe.KindReset, observe.KindGiveUp,
		observe.KindHandlerError, observe.KindHandlerTimeout, observe.KindLateResult,
		observe.KindMalformed, observe.KindTooLarge, observe.KindReplyDropped, observe.KindEviction,
		observe.KindPeerDown, observe.KindHandshakeFailed, observe.KindConnectionShed,
		observe.KindSendBlocked, observe.KindWorkerLost, observe.KindRequestRetried, observe.KindRequestFailed:
		return slog.LevelWarn
	case observe.KindPeerUp, observe.KindWorkerJoined, observe.KindBudget, observe.KindRefused,
		observe.KindDisconnected:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// Observe logs ev, when the logger is enabled at its level. A request
// that ended in anything but a reply (KindDone, outcome other than ok or
// remote_error) is logged at Warn.
func (o *Observer) Observe(ctx context.Context, ev observe.Event) {
	level := o.levels[ev.Kind]
	if ev.Kind == observe.KindDone && ev.Outcome != observe.OutcomeOK && ev.Outcome != observe.OutcomeRemoteError {
		level = max(level, slog.LevelWarn)
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("component", ev.Component.String()), slog.String("event", ev.Kind.String()))
	if ev.Endpoint != "" {
		attrs = append(attrs, slog.String("endpoint", ev.Endpoint))
	}
	if ev.Request != 0 {
		attrs = append(attrs, slog.Uint64("request", ev.Request))
	}
	if ev.Attempt != 0 {
		attrs = append(attrs, slog.Int("attempt", ev.Attempt))
	}
	if ev.Outcome != "" {
		attrs = append(attrs, slog.String("outcome", ev.Outcome))
	}
	if ev.Code != "" {
		attrs = append(attrs, slog.String("code", ev.Code))
	}
	if ev.Name != "" {
		attrs = append(attrs, slog.String("name", ev.Name))
	}
	if ev.Value != 0 {
		attrs = append(attrs, slog.Int64("value", ev.Value))
	}
	if ev.Elapsed != 0 {
		attrs = append(attrs, slog.Duration("elapsed", ev.Elapsed))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("err", ev.Err.Error()))
	}
	o.log.LogAttrs(ctx, level, "zmqguard "+ev.Component.String()+" "+ev.Kind.String(), attrs...)
}
