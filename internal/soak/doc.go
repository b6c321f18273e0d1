// Package soak holds the chaos soak of zmqguard's request/reply stack; it
// has tests only. Clients (reliable.Client in both modes, correlated ones
// also with a single endpoint so that retries meet the same server's
// duplicate suppression, and self-healing ReqSockets) send numbered requests to a pool of reliable.Server
// processes, through in-process fault proxies, while a chaos driver kills,
// freezes and restarts the servers and injects network faults.
//
// The test binary re-executes itself as a server process (TestMain), so
// this package, not internal/testpeer, owns the reliable-server peer:
// reliable's own tests import testpeer, which therefore cannot import
// reliable.
//
// Runs:
//
//	go test ./internal/soak                              # TestSoakShort, ~20 s
//	make soak                                            # TestSoak, 3 minutes
//	make soak SOAK=30m                                   # longer
//
// Every request must end in exactly one outcome within its deadline: the
// right reply (the server echoes the request's key and a checksum of its
// content), or a typed error. The soak counts, and requires to be zero:
// wrong replies, stale replies, hung calls, untyped errors and requests
// executed twice where duplicate suppression applies.
//
// Duplicate rule. A server process logs every execution as (key, pid).
// Duplicate suppression is the reply cache of one server process, keyed
// by the request id of a correlated-mode Client, so a key executed twice
// by the same pid is a violation when it was sent by a correlated Client
// (the cache's window and size are set well above what a soak needs) or by
// a ReqSocket (which sends each request exactly once: a second execution
// would be a delivery of an abandoned request). Not violations, and
// counted separately: executions by different pids (a failover to another
// server, or a server restarted after SIGKILL, whose cache died with it),
// and re-executions of a plain-mode Client's retries (plain REQ framing
// carries no request id, so no server can recognise a retry).
package soak
