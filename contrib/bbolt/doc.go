// Package bbolt keeps zmqguard's durable state in bbolt files
// (go.etcd.io/bbolt: one file, pure Go, no server): a ReplyStore, the
// server's reply cache on disk (reliable.WithReplyStore), and an
// OutboxStore, a client's pending requests and dead letters
// (reliable.NewOutbox). docs/DURABILITY.md says what each guarantees at
// each crash point.
//
// Each store is one file that one process opens at a time (bbolt locks
// it; Open waits WithOpenTimeout for the lock). Its writes are made
// durable as the Sync policy says: SyncAlways (fsync before each write
// returns; concurrent writes share one fsync), SyncEvery(d) (fsync every
// d: a SIGKILL loses nothing, since the data is in the kernel's page
// cache, but a power loss loses up to d of writes) or SyncNever (the same
// for SIGKILL; a power loss may lose anything not yet written back).
//
// Concurrency: every method of ReplyStore and OutboxStore is safe for
// concurrent use. Each store runs one background goroutine (expiry, and
// the fsync of SyncEvery), which Close stops; Close waits for it.
package bbolt
