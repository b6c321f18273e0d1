# zmqguard developer and CI targets. `make help` lists them.

GO ?= go
FUZZTIME ?= 100000x
SOAK ?= 3m
STATICCHECK_VERSION ?= v0.8.2

# The python3 that runs the interop peers in testdata/peers. Empty by default:
# the recipes that need it ask scripts/find-python.sh at run time, i.e. after
# `deps` has installed python3-zmq. Set it to override.
ZMQGUARD_PYTHON ?=

# Recipe prefix that exports ZMQGUARD_PYTHON for go test; a missing pyzmq is
# tolerated here (find-python prints a hint) and left to the tests to report.
WITH_PYTHON = ZMQGUARD_PYTHON="$${ZMQGUARD_PYTHON:-$$(bash scripts/find-python.sh || true)}"; export ZMQGUARD_PYTHON; echo "ZMQGUARD_PYTHON=$$ZMQGUARD_PYTHON";
export ZMQGUARD_PYTHON

# Shell snippet: leave the recipe successfully when $(1) holds no Go files
# that `go` would build (it skips testdata and dirs starting with . or _), so
# the targets are no-ops on an empty tree instead of "matched no packages".
nogo = if [ -z "$$(find $(1) -name '*.go' -not -path '*/testdata/*' -not -path '*/.*' -not -path '*/_*' 2>/dev/null | head -n 1)" ]; then echo "$@: no Go packages under $(1), nothing to do"; exit 0; fi

# Every Go module in the repository: the library (.) and the tools and
# extras that carry their own dependencies (docs/ARCHITECTURE.md). Each
# nested module replaces the library with ../ so it builds against this tree.
MODULES ?= . bench examples cmd/zmqguard contrib/slog contrib/prometheus contrib/otel internal/readme/adapters contrib/grafana contrib/bbolt contrib/dnstest contrib/etcd

# Shell snippet: run the rest of the line in every module, stopping at the
# first failure. Use as: $(each_module) <command>
each_module = set -e; for m in $(MODULES); do echo "== module $$m"; (cd "$$m" && $$cmd); done

.PHONY: all help deps test demo demo-majordomo demo-durable crash lint bench bench-quick soak churn pirates chaos hostile scaleout fuzz examples clean

all: test lint

help:
	@echo "targets: deps test demo demo-majordomo demo-durable crash lint bench bench-quick soak churn pirates chaos hostile scaleout fuzz examples clean"
	@echo "vars:    GO=$(GO) FUZZTIME=$(FUZZTIME) SOAK=$(SOAK) CHURN=$(CHURN) CRASH=$(CRASH) PIRATES=$(PIRATES) CHAOS=$(CHAOS) SCALEOUT=$(SCALEOUT) HOSTILE_BINARY=$(HOSTILE_BINARY) ZMQGUARD_PYTHON=$(ZMQGUARD_PYTHON)"

# libzmq3-dev, pkg-config and python3-zmq; silent and fast when present.
deps:
	@bash scripts/install-deps.sh

test: deps
	@$(WITH_PYTHON) cmd="$(GO) test -race -count=1 -timeout 15m ./..."; $(each_module)

demo: deps
	cd examples && $(GO) run ./lazypirate

# Majordomo with Binary Star: a broker pair, two workers and a client while
# the active broker and a worker are killed (examples/majordomo).
demo-majordomo: deps
	cd examples && $(GO) run ./majordomo

# A server SIGKILLed and restarted under a client's load, with the reply
# cache in memory (some requests run twice), then with the bbolt reply
# store (none does; docs/DURABILITY.md).
demo-durable: deps
	cd contrib/bbolt && $(GO) run ./cmd/durable-demo

# gofmt must list nothing; staticcheck is pinned and run through the module
# proxy and build cache (no global install; `go run pkg@version` ignores go.mod).
lint: deps
	@set -e; echo "+ gofmt -l ."; \
	files="$$(gofmt -l .)"; \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting:"; echo "$$files"; exit 1; fi; \
	cmd="$(GO) vet ./..."; $(each_module); \
	cmd="$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./..."; $(each_module)

# The benchmark suite (bench/, docs/BENCHMARKS.md): every row with its
# variants interleaved in rounds in one process; prints the table and writes
# BENCH_OUT. bench-quick only checks that every row still runs (< 60 s): it
# fails when a variant errors, never on a slow number.
BENCH_OUT ?= bench/results.json
BENCH_FLAGS ?=

bench: deps
	@$(call nogo,bench); set -x; cd bench && $(GO) run ./cmd/zgbench -out ../$(BENCH_OUT) $(BENCH_FLAGS)

bench-quick: deps
	@$(call nogo,bench); set -x; cd bench && $(GO) run ./cmd/zgbench -quick -out quick.tmp $(BENCH_FLAGS)

soak: deps
	@$(call nogo,.); $(WITH_PYTHON) set -x; ZMQGUARD_SOAK=$(SOAK) $(GO) test -race -count=1 -v -run Soak -tags soak -timeout 2h ./...

# The full churn run: CHURN create/connect/reset/close cycles (the normal
# suite runs 20k) through ReqSocket and Client, fds/threads/goroutines flat.
# The scale-out test (cmd/zmqguard/scaleout_test.go, docs/SCALE-OUT.md):
# three serve processes behind a DNS name and behind an etcd prefix while
# one is killed, one joins and one leaves; SCALEOUT is the length of each
# phase (the default suite runs 1.5 s phases).
SCALEOUT ?= 20s
scaleout: deps
	@set -x; cd cmd/zmqguard && ZMQGUARD_SCALEOUT_PHASE=$(SCALEOUT) $(GO) test -race -count=1 -run '^TestScaleOut' -v -timeout 30m .

CHURN ?= 100000
churn: deps
	@$(call nogo,reliable); set -x; ZMQGUARD_CHURN=$(CHURN) $(GO) test -race -count=1 -run '^TestChurn$$' -v -timeout 1h ./reliable

# The crash test (docs/DURABILITY.md, contrib/bbolt/crash_test.go) with
# CRASH requests and CRASH/100 SIGKILLs of the server and of the outbox
# client, in each setup (the normal suite runs 1,000 requests, 3 kills).
CRASH ?= 10000
crash: deps
	@set -x; cd contrib/bbolt && ZMQGUARD_CRASH=$(CRASH) $(GO) test -count=1 -run '^TestCrash' -v -timeout 1h .

# The pirate matrix (reliable/ppp/pirates_test.go) for PIRATES per
# combination of our and zguide's Paranoid Pirate queue and workers, with
# zguide's lpclient and reliable.Client while workers are SIGKILLed, plus
# the figures of docs/PPP.md (the normal suite runs a short matrix); and
# the client's and zmqguard req's outage tests, three times each.
PIRATES ?= 60s
pirates: deps
	@$(call nogo,reliable); $(WITH_PYTHON) set -x; \
	ZMQGUARD_PIRATES=$(PIRATES) $(GO) test -count=1 -run 'Pirate' -v -timeout 1h ./reliable/ppp && \
	$(GO) test -count=3 -run 'TestClientRidesOutOutage' -v ./reliable && \
	cd cmd/zmqguard && $(GO) test -count=3 -run 'TestReqRidesOutRestart' -v .

# The Majordomo and Binary Star chaos tests (reliable/mdp/chaos_test.go) with
# CHAOS times the faults of their short versions, which `make test` runs:
# workers SIGKILLed and SIGSTOPped mid-request, the active broker of a pair
# SIGKILLed and restarted, both brokers killed. Each prints its report.
CHAOS ?= 10
chaos: deps
	@$(call nogo,reliable/mdp); set -x; ZMQGUARD_CHAOS=$(CHAOS) $(GO) test -race -count=1 -v -run '^TestChaos' -timeout 1h ./reliable/mdp

# The hostile-peer suite at the sizes of issue 16 (docs/UNDER-FIRE.md): each
# attack against a `zmqguard serve` process, whose peak RSS must stay under
# the budget it states at start while a good client is answered. `make
# test` runs a short version of it. HOSTILE_BINARY measures another
# zmqguard binary (one built from an earlier commit) instead of judging it.
HOSTILE_BINARY ?=
hostile: deps
	@set -x; cd cmd/zmqguard && ZMQGUARD_HOSTILE=full ZMQGUARD_HOSTILE_BINARY=$(HOSTILE_BINARY) $(GO) test -count=1 -run '^TestHostile' -v -timeout 20m .

# Runs every Fuzz target for FUZZTIME, one at a time (go test -fuzz takes one
# target in one package). FUZZTIME is a count of executions (100000x) by
# default: with a duration, Go 1.26's fuzz coordinator can fail a target
# with a bare "context deadline exceeded" at the end of the time
# (golang/go#75804, fixed in Go 1.27), which once failed CI; a count has no
# deadline to race. FUZZTIME=1m still works for a longer local run.
# `go test -list` prints a package's target names, then its "ok <pkg>"
# line; awk pairs them as pkg,name. No targets: no-op.
fuzz: deps
	@set -e; $(call nogo,.); \
	list="$$($(GO) test -list '^Fuzz' ./...)" || { echo "$$list"; exit 1; }; \
	pairs="$$(echo "$$list" | awk '/^Fuzz/ { n[++c] = $$1; next } /^ok/ { for (i = 1; i <= c; i++) print $$2 "," n[i] } { c = 0 }')"; \
	if [ -z "$$pairs" ]; then echo "fuzz: no fuzz targets"; exit 0; fi; \
	for pair in $$pairs; do \
		pkg="$${pair%%,*}"; name="$${pair#*,}"; \
		echo "fuzz: $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

# Runs every example program and checks its output: examples/examples_test.go
# (lazypirate, timeout, server, curve, paranoid, majordomo) and
# examples/migrate/migrate_test.go.
examples: deps
	@$(call nogo,examples); $(WITH_PYTHON) set -x; cd examples && $(GO) test -count=1 ./...

clean:
	$(GO) clean -testcache
	rm -rf bin
	rm -f bench/*.tmp
