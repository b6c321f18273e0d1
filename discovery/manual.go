package discovery

import (
	"context"
	"sync"
)

// Manual is a resolver whose set the program changes with Set, for
// programs that learn their endpoints some other way (and for tests), as
// grpc-go's resolver/manual. Any number of watches may run on one Manual;
// each sees every Set from its start on. The zero Manual has an empty set.
type Manual struct {
	mu      sync.Mutex
	eps     []string
	changed chan struct{} // closed and replaced by Set
}

// NewManual returns a Manual holding eps.
func NewManual(eps ...string) *Manual {
	return &Manual{eps: Normalize(eps)}
}

// Set replaces the set and tells every watch.
func (m *Manual) Set(eps ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.eps = Normalize(eps)
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

func (m *Manual) state() ([]string, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.changed == nil {
		m.changed = make(chan struct{})
	}
	return m.eps, m.changed
}

// Resolve reports the set, and again after each Set, until ctx ends.
func (m *Manual) Resolve(ctx context.Context, now <-chan struct{}, update func(Update)) error {
	for {
		eps, changed := m.state()
		update(Update{Endpoints: eps})
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
