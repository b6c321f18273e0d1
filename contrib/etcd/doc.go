// Package etcd discovers zmqguard servers through etcd v3: Registrar puts
// a server's endpoint under a key prefix with a lease that it keeps alive
// (a process killed with SIGKILL disappears when the lease's TTL runs
// out; a graceful one deregisters at once), and Resolver watches the
// prefix and reports the set of endpoints under it to a
// reliable.NewClientFor client. It is a module of its own
// (go.etcd.io/etcd/client/v3, the v3.5 client, which speaks to etcd 3.4
// and later) so that the library gains no dependency.
//
// The key of a registration is the prefix followed by the endpoint, and
// its value is the endpoint: any other program can list or watch the same
// keys.
//
// # Concurrency
//
// Registrar and Resolver are safe for concurrent use; each registration
// runs one keep-alive goroutine until it is deregistered, lost, or the
// etcd client is closed. Resolve calls its update function from its own
// goroutine only.
package etcd
