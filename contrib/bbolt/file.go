package bbolt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable"
)

// file is a bbolt file with a sync policy, a group-commit writer and a
// background goroutine.
type file struct {
	db   *bolt.DB
	cfg  config
	ops  chan *writeOp // to the writer; it holds writeQueue
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// writeOp is one write waiting for its transaction.
type writeOp struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// writeQueue bounds the writes waiting for the writer, and the writes one
// transaction takes.
const writeQueue = 1024

// openFile opens path with opts, creates buckets, and runs tick every
// interval (if any) and the fsync of SyncEvery in the background.
func openFile(path string, opts []Option, buckets [][]byte) (*file, error) {
	cfg := defaultConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	// The free list is rebuilt at open instead of written at each commit
	// (as etcd does): commits write fewer pages.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.open, NoSync: cfg.sync.every != 0,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("bbolt: %s is open in another process: %w", path, err)
		}
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	f := &file{db: db, cfg: cfg, ops: make(chan *writeOp, writeQueue), stop: make(chan struct{})}
	f.done.Add(1)
	go f.writer()
	return f, nil
}

// writer commits the writes that queued up while the last transaction
// ran in one transaction, and one fsync (group commit): with n writers at
// once, each waits for about two commits instead of n.
func (f *file) writer() {
	defer f.done.Done()
	batch := make([]*writeOp, 0, writeQueue)
	for {
		select {
		case <-f.stop:
			return
		case op := <-f.ops:
			batch = append(batch[:0], op)
		}
		if f.cfg.batchDelay > 0 {
			t := time.NewTimer(f.cfg.batchDelay)
		gather:
			for len(batch) < writeQueue {
				select {
				case op := <-f.ops:
					batch = append(batch, op)
				case <-t.C:
					break gather
				}
			}
			t.Stop()
		}
	drain:
		for len(batch) < writeQueue {
			select {
			case op := <-f.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		f.commit(batch)
	}
}

// commit runs a batch of writes in one transaction. A write that fails
// its own checks (it found nothing, or a corrupt record: errors it returns
// before it changes anything) fails alone; any other error fails the
// transaction and every write in it.
func (f *file) commit(batch []*writeOp) {
	errs := make([]error, len(batch))
	err := f.db.Update(func(tx *bolt.Tx) error {
		for i, op := range batch {
			if err := op.fn(tx); err != nil {
				if !errors.Is(err, reliable.ErrNotFound) && !errors.Is(err, errCorrupt) {
					return err
				}
				errs[i] = err
			}
		}
		return nil
	})
	for i, op := range batch {
		if err != nil {
			errs[i] = err
		}
		op.done <- errs[i]
	}
}

// background runs tick every interval, and fsync with SyncEvery, until
// close.
func (f *file) background(interval time.Duration, tick func()) {
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		var syncC <-chan time.Time
		if f.cfg.sync.every > 0 {
			t := time.NewTicker(f.cfg.sync.every)
			defer t.Stop()
			syncC = t.C
		}
		var tickC <-chan time.Time
		if tick != nil {
			t := time.NewTicker(interval)
			defer t.Stop()
			tickC = t.C
		}
		for {
			select {
			case <-f.stop:
				return
			case <-syncC:
				_ = f.db.Sync()
			case <-tickC:
				tick()
			}
		}
	}()
}

// write runs fn in a write transaction, which it may share with
// concurrent writes (see commit for the errors fn may return), and
// returns once it is committed (and synced, as the policy says).
func (f *file) write(fn func(tx *bolt.Tx) error) error {
	op := &writeOp{fn: fn, done: make(chan error, 1)}
	select {
	case f.ops <- op:
	case <-f.stop:
		return errClosed
	}
	select {
	case err := <-op.done:
		return err
	case <-f.stop:
		// The writer may still run the transaction; Close waits for it.
		return errClosed
	}
}

// errClosed is the error of a write to a closed store.
var errClosed = errors.New("bbolt: store closed")

// close stops the background goroutine, syncs and closes the file.
func (f *file) close() error {
	var err error
	f.once.Do(func() {
		close(f.stop)
		f.done.Wait()
		if f.cfg.sync.every != 0 {
			_ = f.db.Sync()
		}
		err = f.db.Close()
	})
	return err
}
