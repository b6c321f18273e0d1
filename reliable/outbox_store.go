package reliable

import (
	"errors"
	"time"
)

// ErrNotFound is returned by an OutboxStore, and by Outbox.Retry and
// Outbox.Drop, for a request number it does not hold.
var ErrNotFound = errors.New("reliable: no such request in the outbox")

// OutboxStore is where an Outbox keeps its requests until their replies
// are delivered (see Outbox): the pending ones, the dead letters, the
// client id and the last request number, all of which must survive the
// process. contrib/bbolt has one on a bbolt file.
//
// Each method returns once its change is as durable as the store's policy
// makes it. All methods must be safe for concurrent use.
type OutboxStore interface {
	// ClientID returns the client id the Outbox sends under: the same
	// one, non-zero, every time the store is opened.
	ClientID() (uint64, error)
	// LastSeq returns the highest request number ever added, pending,
	// delivered or dead: the Outbox numbers new requests after it, so a
	// number is never reused (a server would answer a reused one with the
	// reply of the first).
	LastSeq() (uint64, error)
	// Add records a pending request. Its Seq is above LastSeq.
	Add(e OutboxEntry) error
	// Remove forgets a pending request whose reply was delivered.
	Remove(seq uint64) error
	// Pending returns up to max pending requests with Seq above after, in
	// Seq order.
	Pending(after uint64, max int) ([]OutboxEntry, error)
	// Bury moves a pending request to the dead letters, with the reason
	// it gave up.
	Bury(seq uint64, reason string) error
	// Dead returns up to max dead letters with Seq above after, in Seq
	// order.
	Dead(after uint64, max int) ([]OutboxEntry, error)
	// Revive moves a dead letter back to the pending requests and returns
	// it (ErrNotFound if there is none with seq).
	Revive(seq uint64) (OutboxEntry, error)
	// Drop forgets a dead letter (ErrNotFound if there is none with seq).
	Drop(seq uint64) error
}

// OutboxEntry is a request in an OutboxStore.
type OutboxEntry struct {
	Seq     uint64    // the request number: with the store's ClientID, its request id
	Request [][]byte  // the request's frames
	Queued  time.Time // when it was submitted
	Reason  string    // dead letters: why it gave up
}
