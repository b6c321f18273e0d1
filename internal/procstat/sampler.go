package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// RSSKiB returns the VmRSS of process pid in KiB, as /proc reports it,
// or -1 when it cannot be read (the process is gone, or not Linux).
func RSSKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	_, rest, ok := bytes.Cut(b, []byte("VmRSS:"))
	if !ok {
		return -1
	}
	f := bytes.Fields(rest)
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Sampler reads a process's RSS at an interval, from SampleRSS until
// Stop, and keeps the peak.
type Sampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

// SampleRSS starts sampling the RSS of process pid every interval, and
// calls each (if not nil) with the time since the start and the RSS in
// KiB after every reading.
func SampleRSS(pid int, every time.Duration, each func(at time.Duration, kib int64)) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			kib := RSSKiB(pid)
			s.mu.Lock()
			s.peak = max(s.peak, kib)
			s.mu.Unlock()
			if each != nil {
				each(time.Since(start), kib)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Peak returns the highest RSS read so far, in KiB.
func (s *Sampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Stop ends the sampling, waits for its goroutine and returns the peak
// in KiB.
func (s *Sampler) Stop() int64 {
	close(s.stop)
	<-s.done
	return s.Peak()
}
