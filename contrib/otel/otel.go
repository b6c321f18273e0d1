package zgotel

import (
	"bytes"
	"context"
	"errors"
	"sort"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/zmqguard/zmqguard/observe"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/zmqguard/zmqguard/contrib/otel"

// Span names.
const (
	ClientSpan = "zmqguard.request" // a client request, from start to its end
	ServerSpan = "zmqguard.handle"  // a handler run
)

// Observer reports events as OpenTelemetry metrics and spans, and
// carries trace context. Make one with New.
type Observer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator

	requests metric.Float64Histogram
	handled  metric.Float64Histogram
	events   metric.Int64Counter
	bytes    metric.Int64Counter
}

// Option configures an Observer.
type Option func(*config) error

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets the tracer provider (otel.GetTracerProvider()
// by default).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("zgotel: WithTracerProvider: nil provider")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (otel.GetMeterProvider() by
// default).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("zgotel: WithMeterProvider: nil provider")
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets how trace context is written into the trace frame
// (the W3C trace context, propagation.TraceContext, by default).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("zgotel: WithPropagator: nil propagator")
		}
		c.prop = p
		return nil
	}
}

// New returns an Observer.
func New(opts ...Option) (*Observer, error) {
	cfg := config{tp: otel.GetTracerProvider(), mp: otel.GetMeterProvider(), prop: propagation.TraceContext{}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("zgotel: New: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	m := cfg.mp.Meter(ScopeName)
	o := &Observer{tracer: cfg.tp.Tracer(ScopeName), prop: cfg.prop}
	var err error
	if o.requests, err = m.Float64Histogram("zmqguard.client.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Requests a client finished, by outcome, and how long they took.")); err != nil {
		return nil, err
	}
	if o.handled, err = m.Float64Histogram("zmqguard.server.handler.duration", metric.WithUnit("s"),
		metric.WithDescription("Handler runs, by outcome, and how long they took from the request's arrival.")); err != nil {
		return nil, err
	}
	if o.events, err = m.Int64Counter("zmqguard.events", metric.WithUnit("{event}"),
		metric.WithDescription("Every event zmqguard reported, by component and kind (docs/OBSERVABILITY.md).")); err != nil {
		return nil, err
	}
	if o.bytes, err = m.Int64Counter("zmqguard.socket.io", metric.WithUnit("By"),
		metric.WithDescription("Bytes of the messages sent and received, by component and direction.")); err != nil {
		return nil, err
	}
	return o, nil
}

// clientSpanKey and serverSpanKey mark the spans this Observer started,
// so that it ends only its own, each at its event.
type (
	clientSpanKey struct{}
	serverSpanKey struct{}
)

// Inject starts the request's client span and returns the trace context
// to carry: the propagator's fields, one "key=value" per line.
func (o *Observer) Inject(ctx context.Context) (context.Context, []byte) {
	ctx, span := o.tracer.Start(ctx, ClientSpan, trace.WithSpanKind(trace.SpanKindClient))
	ctx = context.WithValue(ctx, clientSpanKey{}, span)
	carrier := propagation.MapCarrier{}
	o.prop.Inject(ctx, carrier)
	keys := carrier.Keys()
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, carrier[k]...)
		b = append(b, '\n')
	}
	return ctx, b
}

// Extract reads the trace context a client carried and starts the
// handler's server span in it. Malformed lines are skipped.
func (o *Observer) Extract(ctx context.Context, carried []byte) context.Context {
	carrier := propagation.MapCarrier{}
	for line := range bytes.SplitSeq(carried, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{'='})
		if ok && len(k) > 0 {
			carrier[string(k)] = string(v)
		}
	}
	ctx = o.prop.Extract(ctx, carrier)
	ctx, span := o.tracer.Start(ctx, ServerSpan, trace.WithSpanKind(trace.SpanKindServer))
	return context.WithValue(ctx, serverSpanKey{}, span)
}

// Observe records ev, and ends the span of a request (KindDone) or
// handler run (KindHandled) that this Observer started.
func (o *Observer) Observe(ctx context.Context, ev observe.Event) {
	comp := attribute.String("component", ev.Component.String())
	o.events.Add(ctx, 1, metric.WithAttributes(comp, attribute.String("kind", ev.Kind.String())))
	switch ev.Kind {
	case observe.KindDone:
		o.requests.Record(ctx, ev.Elapsed.Seconds(), metric.WithAttributes(attribute.String("outcome", ev.Outcome)))
		o.end(ctx, clientSpanKey{}, ev)
	case observe.KindHandled:
		o.handled.Record(ctx, ev.Elapsed.Seconds(), metric.WithAttributes(attribute.String("outcome", ev.Outcome)))
		o.end(ctx, serverSpanKey{}, ev)
	case observe.KindSent:
		o.bytes.Add(ctx, ev.Value, metric.WithAttributes(comp, attribute.String("direction", "sent")))
	case observe.KindReceived:
		o.bytes.Add(ctx, ev.Value, metric.WithAttributes(comp, attribute.String("direction", "received")))
	}
}

// end ends the span under key in ctx, which this Observer started, with
// an error status unless the outcome is ok.
func (o *Observer) end(ctx context.Context, key any, ev observe.Event) {
	span, mine := ctx.Value(key).(trace.Span)
	if !mine {
		return
	}
	span.SetAttributes(attribute.String("zmqguard.outcome", ev.Outcome))
	if ev.Code != "" {
		span.SetAttributes(attribute.String("zmqguard.code", ev.Code))
	}
	if ev.Outcome != observe.OutcomeOK {
		msg := ev.Outcome
		if ev.Err != nil {
			msg = ev.Err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}
