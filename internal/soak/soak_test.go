//go:build soak

package soak

import (
	"os"
	"testing"
	"time"
)

const soakTag = true

// TestSoak is the full soak: ZMQGUARD_SOAK long (default 3m); run it with
// make soak [SOAK=30m].
func TestSoak(t *testing.T) {
	d := 3 * time.Minute
	if v := os.Getenv("ZMQGUARD_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("ZMQGUARD_SOAK=%q: %v", v, err)
		}
	}
	runSoak(t, config{
		duration:    d,
		servers:     3,
		corrClients: 2, corrPer: 4,
		corrSingle:  3,
		plainCients: 2, plainPer: 2,
		reqSockets: 3,
		chaos:      2,
		period:     time.Second,
		deadline:   5 * time.Second,
	})
}
