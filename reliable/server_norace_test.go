//go:build !race

package reliable_test

// raceEnabled is true when the race detector is on.
const raceEnabled = false
