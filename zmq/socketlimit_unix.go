//go:build unix

package zmq

import (
	"os"
	"syscall"
)

// fileLimit returns the soft RLIMIT_NOFILE (Go raises it to the hard
// limit at start), or MaxSocketsDflt when it cannot be read.
func fileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return MaxSocketsDflt
	}
	return int(rl.Cur)
}

// openFiles counts the process's open descriptors where /proc tells.
func openFiles() (int, bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	return len(ents) - 1, true
}
