package zgprom

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zmqguard/zmqguard/observe"
)

// Namespace prefixes every metric name.
const Namespace = "zmqguard"

// DefaultBuckets are the request and handler duration buckets, in
// seconds: from 250 µs to 10 s.
var DefaultBuckets = []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is an observe.Observer that keeps Prometheus metrics, and a
// prometheus.Collector that exports them. Make one with New.
type Metrics struct {
	endpoint bool

	requests        *prometheus.HistogramVec // outcome
	attempts        *prometheus.CounterVec   // (endpoint)
	retries         *prometheus.CounterVec   // (endpoint)
	attemptFailures *prometheus.CounterVec   // outcome, (endpoint)
	giveUps         prometheus.Counter
	stale           prometheus.Counter
	resets          prometheus.Counter

	handled     *prometheus.HistogramVec // outcome
	panics      prometheus.Counter
	handlerErrs prometheus.Counter
	handlerTOs  prometheus.Counter
	late        prometheus.Counter
	cacheHits   *prometheus.CounterVec // kind
	evictions   prometheus.Counter
	dropped     prometheus.Counter
	refused     prometheus.Counter
	shed        prometheus.Counter
	budget      *prometheus.GaugeVec // part

	malformed *prometheus.CounterVec // component
	tooLarge  *prometheus.CounterVec // component
	peers     *prometheus.CounterVec // component, state, (endpoint)
	monitor   *prometheus.CounterVec // component, event, (endpoint)

	msgsSent  *prometheus.CounterVec // component, (endpoint)
	msgsRecv  *prometheus.CounterVec
	bytesSent *prometheus.CounterVec
	bytesRecv *prometheus.CounterVec
	blocked   *prometheus.CounterVec

	workers *prometheus.CounterVec // component, event
	queued  *prometheus.CounterVec // component, event (request_retried, request_failed)

	all []prometheus.Collector
}

// Option configures Metrics.
type Option func(*config) error

type config struct {
	endpoint bool
	buckets  []float64
}

// WithEndpointLabel adds the label endpoint (the peer's address) to the
// attempt, peer, monitor and socket metrics. Its values are as many as
// the peers a process talks to: use it when they are few and known.
func WithEndpointLabel() Option {
	return func(c *config) error { c.endpoint = true; return nil }
}

// WithBuckets sets the buckets of the duration histograms, in seconds
// (DefaultBuckets by default).
func WithBuckets(b []float64) Option {
	return func(c *config) error {
		if len(b) == 0 {
			return errors.New("zgprom: WithBuckets: no buckets")
		}
		c.buckets = append([]float64(nil), b...)
		return nil
	}
}

// New returns Metrics. Register them with a prometheus.Registerer.
func New(opts ...Option) (*Metrics, error) {
	cfg := config{buckets: DefaultBuckets}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("zgprom: New: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	m := &Metrics{endpoint: cfg.endpoint}
	ep := func(labels ...string) []string {
		if cfg.endpoint {
			return append(labels, "endpoint")
		}
		return labels
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		m.all = append(m.all, c)
		return c
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.all = append(m.all, c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: cfg.buckets}, labels)
		m.all = append(m.all, h)
		return h
	}
	m.requests = histogram("client_request_duration_seconds", "Requests a client finished, by outcome, and how long they took.", "outcome")
	m.attempts = counterVec("client_attempts_total", "Attempts sent, retries included.", ep()...)
	m.retries = counterVec("client_retries_total", "Attempts after a request's first.", ep()...)
	m.attemptFailures = counterVec("client_attempt_failures_total", "Attempts that ended without a usable reply, by outcome (timeout, peer_gone, error).", ep("outcome")...)
	m.giveUps = counter("client_give_ups_total", "Requests that gave up without a reply.")
	m.stale = counter("client_stale_replies_total", "Replies dropped because they answered an earlier attempt or request.")
	m.resets = counter("client_resets_total", "Plain-mode sockets reset after a failed attempt.")

	m.handled = histogram("server_handler_duration_seconds", "Handler runs, by outcome (ok, error, panic, timeout), and how long they took from the request's arrival.", "outcome")
	m.panics = counter("server_panics_total", "Handlers that panicked.")
	m.handlerErrs = counter("server_handler_errors_total", "Handlers that returned an error.")
	m.handlerTOs = counter("server_handler_timeouts_total", "Handlers that overran their deadline.")
	m.late = counter("server_late_results_total", "Handler results that came after their timeout reply.")
	m.cacheHits = counterVec("server_cache_hits_total", "Retries answered without running the handler: from the reply cache (cached) or joined to their run (in_flight).", "kind")
	m.evictions = counter("server_cache_evictions_total", "Cached replies evicted before their window ended.")
	m.dropped = counter("server_replies_dropped_total", "Replies libzmq refused: the peer gone or its queue full.")
	m.refused = counter("server_refused_total", "Requests refused during shutdown.")
	m.shed = counter("server_connections_shed_total", "Connections the server dropped at its limits.")
	m.budget = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "server_memory_budget_bytes",
		Help: "The server's stated worst case, by part (total is their sum; -1: unbounded)."}, []string{"part"})
	m.all = append(m.all, m.budget)

	m.malformed = counterVec("malformed_messages_total", "Inbound messages that did not follow the protocol.", "component")
	m.tooLarge = counterVec("too_large_total", "Requests or replies over the size limits.", "component")
	m.peers = counterVec("peer_state_changes_total", "Peers that became usable (up) or were lost (down).", ep("component", "state")...)
	m.monitor = counterVec("socket_monitor_events_total", "libzmq monitor events: connected, accepted, disconnected, connect_retried, handshake_failed_{protocol,auth,no_detail}.", ep("component", "event")...)

	m.msgsSent = counterVec("socket_sent_messages_total", "Messages sent.", ep("component")...)
	m.msgsRecv = counterVec("socket_received_messages_total", "Messages received.", ep("component")...)
	m.bytesSent = counterVec("socket_sent_bytes_total", "Bytes of the messages sent (frames, without ZMTP framing).", ep("component")...)
	m.bytesRecv = counterVec("socket_received_bytes_total", "Bytes of the messages received (frames, without ZMTP framing).", ep("component")...)
	m.blocked = counterVec("socket_send_blocked_total", "Sends that found the socket full (EAGAIN: the high-water mark, or no peer ready).", ep("component")...)

	m.workers = counterVec("worker_events_total", "Workers that joined or were lost, at a queue or broker.", "component", "event")
	m.queued = counterVec("queue_requests_total", "Requests a queue or broker sent again (request_retried) or gave up (request_failed).", "component", "event")
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all {
		c.Collect(ch)
	}
}

// labels returns values, with ev's endpoint last when the label is on.
func (m *Metrics) labels(ev *observe.Event, values ...string) []string {
	if m.endpoint {
		return append(values, ev.Endpoint)
	}
	return values
}

// Observe implements observe.Observer.
func (m *Metrics) Observe(_ context.Context, ev observe.Event) {
	comp := ev.Component.String()
	switch ev.Kind {
	case observe.KindAttempt:
		m.attempts.WithLabelValues(m.labels(&ev)...).Inc()
		if ev.Attempt > 1 {
			m.retries.WithLabelValues(m.labels(&ev)...).Inc()
		}
	case observe.KindAttemptFailed:
		m.attemptFailures.WithLabelValues(m.labels(&ev, ev.Outcome)...).Inc()
	case observe.KindGiveUp:
		m.giveUps.Inc()
	case observe.KindStale:
		m.stale.Inc()
	case observe.KindReset:
		m.resets.Inc()
	case observe.KindDone:
		m.requests.WithLabelValues(ev.Outcome).Observe(ev.Elapsed.Seconds())
	case observe.KindHandled:
		m.handled.WithLabelValues(ev.Outcome).Observe(ev.Elapsed.Seconds())
	case observe.KindPanic:
		m.panics.Inc()
	case observe.KindHandlerError:
		m.handlerErrs.Inc()
	case observe.KindHandlerTimeout:
		m.handlerTOs.Inc()
	case observe.KindLateResult:
		m.late.Inc()
	case observe.KindCacheHit:
		m.cacheHits.WithLabelValues(ev.Name).Inc()
	case observe.KindEviction:
		m.evictions.Add(float64(ev.Value))
	case observe.KindReplyDropped:
		m.dropped.Inc()
	case observe.KindRefused:
		m.refused.Inc()
	case observe.KindConnectionShed:
		m.shed.Inc()
	case observe.KindBudget:
		m.budget.WithLabelValues(ev.Name).Set(float64(ev.Value))
	case observe.KindMalformed:
		m.malformed.WithLabelValues(comp).Inc()
	case observe.KindTooLarge:
		m.tooLarge.WithLabelValues(comp).Inc()
	case observe.KindPeerUp:
		m.peers.WithLabelValues(m.labels(&ev, comp, "up")...).Inc()
	case observe.KindPeerDown:
		m.peers.WithLabelValues(m.labels(&ev, comp, "down")...).Inc()
	case observe.KindConnected, observe.KindAccepted, observe.KindDisconnected, observe.KindConnectRetried:
		m.monitor.WithLabelValues(m.labels(&ev, comp, ev.Kind.String())...).Inc()
	case observe.KindHandshakeFailed:
		m.monitor.WithLabelValues(m.labels(&ev, comp, "handshake_failed_"+ev.Name)...).Inc()
	case observe.KindSent:
		m.msgsSent.WithLabelValues(m.labels(&ev, comp)...).Inc()
		m.bytesSent.WithLabelValues(m.labels(&ev, comp)...).Add(float64(ev.Value))
	case observe.KindReceived:
		m.msgsRecv.WithLabelValues(m.labels(&ev, comp)...).Inc()
		m.bytesRecv.WithLabelValues(m.labels(&ev, comp)...).Add(float64(ev.Value))
	case observe.KindSendBlocked:
		m.blocked.WithLabelValues(m.labels(&ev, comp)...).Inc()
	case observe.KindWorkerJoined, observe.KindWorkerLost:
		m.workers.WithLabelValues(comp, ev.Kind.String()).Inc()
	case observe.KindRequestRetried, observe.KindRequestFailed:
		m.queued.WithLabelValues(comp, ev.Kind.String()).Inc()
	}
}
