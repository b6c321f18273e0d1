package reliable_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

func TestMain(m *testing.M) {
	testpeer.Register("hostile-server", runHostileServer)
	testpeer.MaybeRun() // when re-executed as a peer process
	goleak.VerifyTestMain(m)
}
