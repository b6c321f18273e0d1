package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// threadCPU is the CPU time that the process's threads have used so far,
// split into libzmq's background threads (named ZMQbg/...) and the rest:
// the client's own side of a round trip (its Go code, cgo, the runtime and
// the kernel work of its calls) apart from libzmq's I/O. It reads
// /proc/self/task/*/schedstat, and is zero where there is none. A thread
// that exits between two readings takes its time with it; the rows that
// use it keep every thread of the client alive while they measure.
func threadCPU() (own, io time.Duration) {
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
			io += time.Duration(ns)
		} else {
			own += time.Duration(ns)
		}
	}
	return own, io
}

// cpuMark is a reading of threadCPU, to be turned into per-call metrics.
type cpuMark struct{ own, io time.Duration }

func markCPU() cpuMark {
	own, io := threadCPU()
	return cpuMark{own, io}
}

// perCall adds to m the CPU time since the mark per call, in µs:
// "client-cpu-us" (threads other than libzmq's) and "io-cpu-us" (libzmq's
// background threads).
func (c cpuMark) perCall(m map[string]float64, calls int) {
	own, io := threadCPU()
	if own == 0 || calls == 0 {
		return
	}
	m["client-cpu-us"] = float64((own - c.own).Nanoseconds()) / 1e3 / float64(calls)
	m["io-cpu-us"] = float64((io - c.io).Nanoseconds()) / 1e3 / float64(calls)
}
