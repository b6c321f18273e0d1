// Package discovery turns a target into a changing set of endpoints, and
// lets a server advertise its own endpoint, on engines users already run:
// a static list, DNS (A/AAAA plus a port, or SRV) and, in the contrib/etcd
// module, etcd v3.
//
// It follows what grpc-go learned with its resolver package: a Resolver
// pushes the whole current set to its user each time it changes (never a
// delta, so a missed update cannot leave the user wrong for good); a
// failed resolution keeps the last good set instead of emptying it; and a
// user that sees failures may ask for a new resolution early, which the
// resolver honours no sooner than its minimum interval.
//
// reliable.NewClientFor takes a Resolver, diff-connects to the set it
// reports and balances requests across it. Registrar is the server side:
// Advertise puts an endpoint under a name for as long as the server lives,
// and Drain takes it out before a graceful shutdown.
//
// # Concurrency
//
// A Resolver's Resolve runs on one goroutine per watch and calls its
// update function from that goroutine only, one call at a time. Static,
// DNS, and the values this package returns are safe for concurrent use;
// a Registration may be deregistered from any goroutine, more than once.
package discovery
