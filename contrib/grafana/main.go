package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	out := flag.String("out", "dashboard.png", "the PNG to write")
	duration := flag.Duration("duration", 60*time.Second, "how long the load runs")
	flag.Parse()
	if err := run(context.Background(), *out, *duration, time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "grafana:", err)
		os.Exit(1)
	}
}

// run drives the load for d, scraping every step, and plots the panels
// to out.
func run(ctx context.Context, out string, d, step time.Duration) error {
	l, err := startLoad()
	if err != nil {
		return err
	}
	samples, err := scrapeWhile(ctx, l, d, step)
	l.stop()
	if err != nil {
		return err
	}
	return plotPanels(samples, out)
}
