package soak

import (
	"testing"
	"time"
)

// TestSoakShort is the soak the normal suite runs: about 20 s of chaos.
// With -tags soak, TestSoak runs instead (make soak).
func TestSoakShort(t *testing.T) {
	if soakTag {
		t.Skip("built with -tags soak: TestSoak runs the full soak")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	runSoak(t, config{
		duration:    18 * time.Second,
		servers:     3,
		corrClients: 2, corrPer: 3,
		corrSingle:  2,
		plainCients: 1, plainPer: 2,
		reqSockets: 2,
		chaos:      1,
		period:     600 * time.Millisecond,
		deadline:   5 * time.Second,
	})
}
