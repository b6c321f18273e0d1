package soak

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(envPeer) == "server" {
		os.Exit(runServerPeer())
	}
	goleak.VerifyTestMain(m)
}
