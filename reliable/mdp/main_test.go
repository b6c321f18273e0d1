package mdp_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

func TestMain(m *testing.M) {
	testpeer.Register("mdworker", runWorkerPeer)
	testpeer.Register("mdbroker", runBrokerPeer)
	testpeer.MaybeRun() // when re-executed as a peer process
	goleak.VerifyTestMain(m)
}
