package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	zgprom "github.com/zmqguard/zmqguard/contrib/prometheus"
	zgslog "github.com/zmqguard/zmqguard/contrib/slog"
	"github.com/zmqguard/zmqguard/observe"
)

// observeFlags are the flags of the commands that can be observed:
// --metrics, --log-format and --log-level.
type observeFlags struct {
	metrics   *string
	logFormat *string
	logLevel  *string
}

func addObserveFlags(f *cmdFlags) observeFlags {
	return observeFlags{
		metrics:   f.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. :9090 (127.0.0.1:0 picks a free port)"),
		logFormat: f.String("log-format", "", "log what the server does to stderr through log/slog: text or json (default: no log)"),
		logLevel:  f.String("log-level", "info", "the least level logged with --log-format: debug, info, warn or error"),
	}
}

// check validates the flags; it returns a usage error's message, or "".
func (o observeFlags) check() string {
	switch *o.logFormat {
	case "", "text", "json":
	default:
		return fmt.Sprintf("--log-format %q: want text or json", *o.logFormat)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(*o.logLevel)); err != nil {
		return fmt.Sprintf("--log-level %q: want debug, info, warn or error", *o.logLevel)
	}
	return ""
}

// observing is what start set up: the observer to give the server (nil
// for none), the metrics URL, and stop, which shuts the HTTP server.
type observing struct {
	observer observe.Observer
	url      string
	stop     func()
}

// start builds the observers the flags ask for and starts the metrics
// server.
func (o observeFlags) start(stderr io.Writer) (*observing, error) {
	obs := &observing{stop: func() {}}
	var all []observe.Observer
	if *o.logFormat != "" {
		var level slog.Level
		_ = level.UnmarshalText([]byte(*o.logLevel)) // checked
		hopts := &slog.HandlerOptions{Level: level}
		var h slog.Handler = slog.NewTextHandler(stderr, hopts)
		if *o.logFormat == "json" {
			h = slog.NewJSONHandler(stderr, hopts)
		}
		l, err := zgslog.New(slog.New(h))
		if err != nil {
			return nil, err
		}
		all = append(all, l)
	}
	if *o.metrics != "" {
		m, err := zgprom.New()
		if err != nil {
			return nil, err
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		ln, err := net.Listen("tcp", *o.metrics)
		if err != nil {
			return nil, fmt.Errorf("--metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(stderr, "zmqguard: metrics:", err)
			}
		}()
		obs.url = "http://" + ln.Addr().String() + "/metrics"
		obs.stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
			<-done
		}
		all = append(all, m)
	}
	obs.observer = observe.Multi(all...)
	return obs, nil
}
