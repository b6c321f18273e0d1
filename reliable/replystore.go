package reliable

import (
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// ReplyStore keeps what a Server's reply cache knows where it outlives
// the server's process (WithReplyStore): that a request's handler was
// started, and then its outcome. The Server still answers retries from
// its reply cache in memory first; the store is written through, and read
// when the cache does not know a request, such as after a restart.
//
// A store bounds itself, by age (a record past its Expires is gone) and
// by bytes (the oldest records make room first); it must not stall its
// callers to compact. contrib/bbolt has one on a bbolt file, with a choice
// of fsync policies; docs/DURABILITY.md says what holds at each crash
// point.
//
// The Server calls Put from its handler goroutines, concurrently, and Get
// from its serve loop: both must be safe for concurrent use, and Get
// should be quick (it delays the serve loop).
type ReplyStore interface {
	// Get returns key's record if it has one whose Expires is after now.
	Get(key wire.RequestKey, now time.Time) (StoredOutcome, bool, error)
	// Put records rec for key, replacing an earlier record of key, and
	// returns once it is as durable as the store's policy makes it.
	Put(key wire.RequestKey, rec StoredOutcome) error
}

// StoredOutcome is a ReplyStore's record of one request.
type StoredOutcome struct {
	// Boot names the run of the serve loop that wrote the record: a
	// random number chosen each time Serve starts.
	Boot uint64
	// Done is false while the handler runs: the record says only that it
	// was started. Once true, Kind and Body are the reply.
	Done bool
	Kind wire.Kind // wire.KindReply or wire.KindError
	Body [][]byte  // the reply's body frames
	// Expires is when the record stops answering retries: the dedupe
	// window (WithDedupeWindow) after the handler started or finished.
	Expires time.Time
}
