package reliable_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/hostile"
	"github.com/zmqguard/zmqguard/internal/testpeer"
)

func TestMain(m *testing.M) {
	testpeer.Register("hostile-server", runHostileServer)
	hostile.Register()
	testpeer.MaybeRun() // when re-executed as a peer process
	goleak.VerifyTestMain(m)
}
