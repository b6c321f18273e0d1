package ppp_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

func TestMain(m *testing.M) {
	testpeer.Register("ppworker", runWorkerPeer)
	testpeer.MaybeRun() // when re-executed as a peer process
	goleak.VerifyTestMain(m)
}
