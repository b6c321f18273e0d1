// Package zgprom exports what zmqguard does as Prometheus metrics: an
// observe.Observer that is also a prometheus.Collector. Register it, and
// give it to the components to watch:
//
//	m, err := zgprom.New()
//	prometheus.MustRegister(m)
//	c, err := reliable.NewClient(zctx, eps, reliable.WithObserver(m))
//	srv, err := reliable.Listen(zctx, ep, h, reliable.WithServerObserver(m))
//
// The metric names are stable and follow Prometheus' conventions (base
// units, _total for counters, _seconds and _bytes); docs/OBSERVABILITY.md
// lists them. Labels take few values: outcomes, components, monitor
// events. The endpoint, whose values are as many as the peers, is a label
// only with WithEndpointLabel; request ids never are.
//
// # Concurrency
//
// A Metrics is safe for concurrent use: Observe from any goroutine,
// Collect from the registry's.
package zgprom
