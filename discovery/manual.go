package discovery

import (
	"context"
	"sync"
)

// Manual is a resolver whose set the program changes with Set or
// Register, for programs that learn their endpoints some other way (and
// for tests), as grpc-go's resolver/manual. Any number of watches may run
// on one Manual; each sees every change from its start on. The zero
// Manual has an empty set.
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

// Register adds endpoint to the set until the registration is
// deregistered: a Manual is also the Registrar of one process (servers
// and clients in the same program, tests). Its registrations never
// expire, so Lost is never closed.
func (m *Manual) Register(_ context.Context, endpoint string) (Registration, error) {
	m.mu.Lock()
	eps := append(append([]string(nil), m.eps...), endpoint)
	m.mu.Unlock()
	m.Set(eps...)
	return &manualReg{m: m, endpoint: endpoint}, nil
}

type manualReg struct {
	m        *Manual
	endpoint string
	once     sync.Once
}

// Deregister removes the endpoint from the set.
func (r *manualReg) Deregister(context.Context) error {
	r.once.Do(func() {
		m := r.m
		m.mu.Lock()
		var eps []string
		for _, e := range m.eps {
			if e != r.endpoint {
				eps = append(eps, e)
			}
		}
		m.mu.Unlock()
		m.Set(eps...)
	})
	return nil
}

func (r *manualReg) Lost() <-chan struct{} { return nil }
