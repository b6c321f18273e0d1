package bbolt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zmqguard/zmqguard/internal/option"
)

// file is a bbolt file with a sync policy and a background goroutine.
type file struct {
	db   *bolt.DB
	cfg  config
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// openFile opens path with opts, creates buckets, and runs tick every
// interval (if any) and the fsync of SyncEvery in the background.
func openFile(path string, opts []Option, buckets [][]byte) (*file, error) {
	cfg := defaultConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.open, NoSync: cfg.sync.every != 0})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("bbolt: %s is open in another process: %w", path, err)
		}
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	db.MaxBatchDelay = cfg.batchDelay
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
	return &file{db: db, cfg: cfg, stop: make(chan struct{})}, nil
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

// write runs fn in a write transaction, sharing it with concurrent
// writes. fn must be idempotent: bbolt runs it again alone when another
// function of its batch fails.
func (f *file) write(fn func(tx *bolt.Tx) error) error { return f.db.Batch(fn) }

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
