package testpeer

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	MaybeRun()
	goleak.VerifyTestMain(m)
}
