// Package testpeer runs test servers as real processes, so tests can kill
// them with SIGKILL, freeze them with SIGSTOP and restart them. The test
// binary re-executes itself: call MaybeRun at the top of TestMain, and
// Start from a test.
//
// A peer prints "READY <endpoint>" once bound and "EXEC <last frame>" for
// every request it executes, so tests count executions from the peer's
// own output instead of guessing.
//
// Every peer, Go or Python, is started with StartTied: it dies with the
// test binary, even when that is killed from outside.
package testpeer
