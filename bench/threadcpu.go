package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuMark is the CPU time that the process's threads have used so far,
// split into libzmq's background threads (named ZMQbg/...) and the rest:
// the client's own side of a round trip (its Go code, cgo, the runtime and
// the kernel work of its calls) apart from libzmq's I/O.
type cpuMark struct{ own, io time.Duration }

// markCPU reads /proc/self/task/*/schedstat; the mark is zero where there
// is none. A thread that exits between two marks takes its time with it;
// the rows that use it keep every thread of the client alive while they
// measure.
func markCPU() (c cpuMark) {
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, t := range tasks {
		st, err := os.ReadFile(filepath.Join(t, "schedstat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(t, "comm"))
		if strings.HasPrefix(string(comm), "ZMQbg/") {
			c.io += time.Duration(ns)
		} else {
			c.own += time.Duration(ns)
		}
	}
	return c
}

// perCall adds to m the CPU time since the mark per call, in µs:
// "client-cpu-us" (threads other than libzmq's) and "io-cpu-us" (libzmq's
// background threads).
func (c cpuMark) perCall(m map[string]float64, calls int) {
	now := markCPU()
	if now.own == 0 || calls == 0 {
		return
	}
	m["client-cpu-us"] = float64((now.own - c.own).Nanoseconds()) / 1e3 / float64(calls)
	m["io-cpu-us"] = float64((now.io - c.io).Nanoseconds()) / 1e3 / float64(calls)
}
