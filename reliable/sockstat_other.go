//go:build !linux

package reliable

import "errors"

// Elsewhere than Linux the server does not read its connections' kernel
// counters: connections are counted and capped, not measured.

const watchSupported = false

type sockCounters struct{ read, written int64 }

func readSockCounters(int) (sockCounters, bool) { return sockCounters{}, false }
func sockID(int) (uint64, bool)                 { return 0, false }
func shedSock(int) error                        { return errors.ErrUnsupported }

func connRoom() int { return 1 << 30 }

func acceptedSockets([]int) map[int]uint64 { return nil }
func localAddr(int) (int, string, bool)    { return -1, "", false }
