// Command grafana draws the panels of docs/grafana-dashboard.json from a
// real run, for the README, where Grafana cannot run: it serves requests
// with a reliable.Server and reliable.Clients observed by zgprom (some
// fail, panic, time out and come back stale), scrapes the server's
// /metrics over HTTP every second, computes each panel's query from the
// samples (the rates and histogram quantiles Grafana would ask
// Prometheus for) and plots them with gonum/plot:
//
//	go run . -out ../../docs/dashboard.png [-duration 60s]
//
// Its test checks that every metric the dashboard queries is one that
// zgprom exports and docs/OBSERVABILITY.md documents.
//
// # Concurrency
//
// The load runs on goroutines of its own, which the run stops and waits
// for before it plots.
package main
