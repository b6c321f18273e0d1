// Package procstat reads the resource counts of the current process that
// leak tests watch: open file descriptors, OS threads, goroutines and
// resident memory. Linux only (it reads /proc/self); elsewhere the counts
// that need /proc are -1.
package procstat
