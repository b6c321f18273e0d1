// Package adapters holds what the README's adapter programs (the ```go
// contrib blocks) need: its module requires the three adapters, which the
// library module must not, so their programs are built and run here
// instead of in internal/readme. It is test tooling; the blank imports
// keep the requirements in go.mod.
package adapters

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/zmqguard/zmqguard/contrib/otel"
	_ "github.com/zmqguard/zmqguard/contrib/prometheus"
	_ "github.com/zmqguard/zmqguard/contrib/slog"
)
