package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// Sample is one reading.
type Sample struct {
	FDs        int   // entries in /proc/self/fd
	Threads    int   // Threads: in /proc/self/status
	Goroutines int   // runtime.NumGoroutine
	RSS        int64 // VmRSS in bytes
}

func (s Sample) String() string {
	return fmt.Sprintf("fds=%d threads=%d goroutines=%d rss=%.1fMiB",
		s.FDs, s.Threads, s.Goroutines, float64(s.RSS)/(1<<20))
}

// Read takes a sample.
func Read() Sample {
	s := Sample{FDs: -1, Threads: -1, Goroutines: runtime.NumGoroutine(), RSS: -1}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.FDs = len(ents) - 1 // the directory being read is itself an fd
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("Threads:")):
			s.Threads, _ = strconv.Atoi(string(bytes.TrimSpace(line[len("Threads:"):])))
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			f := bytes.Fields(line[len("VmRSS:"):])
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				s.RSS = kb << 10
			}
		}
	}
	return s
}

// Max returns the field-wise maximum of a and b.
func Max(a, b Sample) Sample {
	return Sample{FDs: max(a.FDs, b.FDs), Threads: max(a.Threads, b.Threads),
		Goroutines: max(a.Goroutines, b.Goroutines), RSS: max(a.RSS, b.RSS)}
}
