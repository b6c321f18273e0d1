//go:build race

package reliable_test

// raceEnabled is true when the race detector is on: memory bounds in
// tests are looser then, because it multiplies Go's memory use.
const raceEnabled = true
