// Package dnstest runs a real DNS server in-process on loopback
// (github.com/miekg/dns, over UDP and TCP), whose records a test changes
// while it runs: the DNS that discovery.DNS resolves in zmqguard's tests.
// It lives in a module of its own so that the library gains no
// dependency.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use; the server answers on
// its own goroutines until Close, which waits for them.
package dnstest
