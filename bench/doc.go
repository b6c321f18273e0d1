// Package bench is zmqguard's benchmark suite: each row measures zmqguard
// next to raw pebbe/zmq4 (and, where it makes sense, the pure-Go
// go-zeromq/zmq4 and a C libzmq loop) in one process, with the variants
// interleaved in rounds, so that the machine's drift hits every variant
// alike. The command bench/cmd/zgbench runs it; docs/BENCHMARKS.md explains
// the rows and bench/results.json's schema.
//
// Benchmarks and tools may import pebbe/zmq4 and go-zeromq to compare; the
// library code never does (only zmq/ imports pebbe).
package bench
