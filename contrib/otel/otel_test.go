package zgotel_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	zgotel "github.com/zmqguard/zmqguard/contrib/otel"
	"github.com/zmqguard/zmqguard/internal/observetest"
	"github.com/zmqguard/zmqguard/observe"
)

// TestTraceAcrossARequest: a real client and server with the in-memory
// exporter: every request is a client span under the caller's; the
// handler runs in a server span that is its child, in the same trace, and
// the handler's own span joins it. Metrics count what happened.
func TestTraceAcrossARequest(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	o, err := zgotel.New(zgotel.WithTracerProvider(tp), zgotel.WithMeterProvider(mp))
	require.NoError(t, err)

	var mu sync.Mutex
	var handlerSpans []trace.SpanContext
	observetest.Run(t, observetest.Config{Client: o, Server: o, Handle: func(ctx context.Context) {
		_, span := tp.Tracer("app").Start(ctx, "handler-work")
		mu.Lock()
		handlerSpans = append(handlerSpans, span.SpanContext())
		mu.Unlock()
		span.End()
	}})

	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	var clients, servers []tracetest.SpanStub
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
		switch s.Name {
		case zgotel.ClientSpan:
			clients = append(clients, s)
		case zgotel.ServerSpan:
			servers = append(servers, s)
		}
	}
	require.Len(t, clients, observetest.Requests)
	require.Len(t, servers, observetest.Handled, "one per handler run: the retry of slow joined its run")
	for _, s := range servers {
		parent, ok := byID[s.Parent.SpanID()]
		require.True(t, ok, "the server span's parent is a client span we exported")
		assert.Equal(t, zgotel.ClientSpan, parent.Name)
		assert.Equal(t, parent.SpanContext.TraceID(), s.SpanContext.TraceID(), "one trace across the request")
		assert.True(t, s.Parent.IsRemote())
	}
	mu.Lock()
	require.Len(t, handlerSpans, observetest.Handled)
	for _, hs := range handlerSpans {
		var work tracetest.SpanStub
		for _, s := range spans {
			if s.SpanContext.SpanID() == hs.SpanID() {
				work = s
			}
		}
		parent := byID[work.Parent.SpanID()]
		assert.Equal(t, zgotel.ServerSpan, parent.Name, "the handler's span is a child of the server span")
		assert.Equal(t, parent.SpanContext.TraceID(), hs.TraceID())
	}
	mu.Unlock()
	status := map[string]int{}
	for _, s := range append(clients, servers...) {
		status[s.Name+"/"+s.Status.Code.String()]++
	}
	assert.Equal(t, map[string]int{
		zgotel.ClientSpan + "/" + codes.Unset.String(): 1, // ok
		zgotel.ClientSpan + "/" + codes.Error.String(): 2, // gave up, remote error
		zgotel.ServerSpan + "/" + codes.Unset.String(): observetest.HandledOK,
		zgotel.ServerSpan + "/" + codes.Error.String(): observetest.Panics,
	}, status)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	events := map[string]int64{}
	var requests, handled uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name != "zmqguard.events" {
					continue
				}
				for _, p := range d.DataPoints {
					c, _ := p.Attributes.Value("component")
					k, _ := p.Attributes.Value("kind")
					events[c.AsString()+"/"+k.AsString()] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					switch m.Name {
					case "zmqguard.client.request.duration":
						requests += p.Count
					case "zmqguard.server.handler.duration":
						handled += p.Count
					}
				}
			}
		}
	}
	assert.EqualValues(t, observetest.Requests, requests)
	assert.EqualValues(t, observetest.Handled, handled)
	assert.EqualValues(t, observetest.Attempts, events["client/attempt"])
	assert.EqualValues(t, observetest.Stale, events["client/stale"])
	assert.EqualValues(t, observetest.Timeouts, events["client/attempt_failed"])
	assert.EqualValues(t, observetest.Panics, events["server/panic"])
}

// TestExtractToleratesGarbage: what a hostile client puts in the trace
// frame gives no span context and no panic.
func TestExtractToleratesGarbage(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	o, err := zgotel.New(zgotel.WithTracerProvider(tp))
	require.NoError(t, err)
	for _, b := range []string{"", "=", "\n\n", "traceparent=zz", "traceparent", "traceparent=00-0-0-0\n=x"} {
		ctx := o.Extract(context.Background(), []byte(b))
		span := trace.SpanFromContext(ctx)
		assert.False(t, span.SpanContext().IsRemote(), "%q", b)
		o.Observe(ctx, observe.Event{Component: observe.Server, Kind: observe.KindHandled, Outcome: observe.OutcomeOK})
	}
	_, err = zgotel.New(nil)
	assert.Error(t, err)
	_, err = zgotel.New(zgotel.WithTracerProvider(nil))
	assert.Error(t, err)
}
