// Package zmqtest holds helpers for tests that use real libzmq sockets:
// contexts terminated in t.Cleanup with a bound, endpoints for every
// transport without fixed ports, and bound/connected socket pairs.
package zmqtest
