package bstar_test

import (
	"fmt"

	"github.com/zmqguard/zmqguard/reliable/bstar"
)

// The backup of a pair, passive while the primary is heard, takes over
// when a client asks and the primary has been silent for the peer expiry.
func ExampleStep() {
	s := bstar.StateBackup
	s, _, _ = bstar.Step(bstar.Backup, s, bstar.PeerActive, false)
	fmt.Println(s)
	s, ok, _ := bstar.Step(bstar.Backup, s, bstar.ClientRequest, false)
	fmt.Println(s, ok)
	s, ok, _ = bstar.Step(bstar.Backup, s, bstar.ClientRequest, true)
	fmt.Println(s, ok)
	_, _, err := bstar.Step(bstar.Backup, s, bstar.PeerActive, false)
	fmt.Println(err)
	// Output:
	// passive
	// passive false
	// active true
	// bstar: split brain: the peer is active too
}
