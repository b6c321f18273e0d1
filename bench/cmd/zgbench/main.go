// Command zgbench runs zmqguard's benchmark suite (package bench): every row
// with its variants interleaved in rounds in this one process, then prints a
// Markdown table of medians, min-max spreads and per-round ratios against
// raw pebbe/zmq4, and writes the same results as JSON.
//
//	cd bench && go run ./cmd/zgbench            # full run, about 5 min on 2 cores
//	cd bench && go run ./cmd/zgbench -quick     # every row once or twice, < 60 s
//	cd bench && go run ./cmd/zgbench -filter 'req-rep|cancel' -rounds 3
//	cd bench && go run ./cmd/zgbench -lab -rounds 9 # the experiments of LabRows
//
// It exits 1 when a variant failed to run (an error, not a slow result):
// noise never fails it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"

	"github.com/zmqguard/zmqguard/bench"
)

func main() {
	bench.MaybeChild()
	quick := flag.Bool("quick", false, "few short rounds (checks that every row runs; < 60 s)")
	out := flag.String("out", "results.json", "where to write the JSON results (empty: nowhere)")
	rounds := flag.Int("rounds", 0, "rounds (0: 5, or 2 with -quick)")
	filter := flag.String("filter", "", "regexp: run only the rows whose name matches")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	lab := flag.Bool("lab", false, "run the lab's experiments (bench.LabRows) instead of the suite")
	flag.Parse()

	cfg := &bench.Config{Quick: *quick, Rounds: *rounds, Log: os.Stderr}
	if *quiet {
		cfg.Log = nil
	}
	if *filter != "" {
		re, err := regexp.Compile(*filter)
		if err != nil {
			fmt.Fprintln(os.Stderr, "zgbench: -filter:", err)
			os.Exit(2)
		}
		cfg.Filter = re
	}
	rows := bench.Rows()
	if *lab {
		rows = bench.LabRows()
	}
	rep := bench.Run(cfg, rows)
	m := rep.Machine
	fmt.Printf("zgbench %s: %d rounds in %.0fs on %d CPUs (%s), %s, libzmq %s, %v\n\n",
		rep.Mode, rep.Rounds, rep.Seconds, m.NumCPU, m.CPU, m.Go, m.Libzmq, m.Modules)
	fmt.Print(rep.Table())
	if *out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "zgbench:", err)
			os.Exit(2)
		}
		fmt.Printf("\nwrote %s\n", *out)
	}
	if rep.Failures > 0 {
		fmt.Fprintf(os.Stderr, "zgbench: %d variant runs failed\n", rep.Failures)
		os.Exit(1)
	}
}
