package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zmqguard/zmqguard/discovery"
)

// DefaultTTL is the lease TTL of a registration: how long a server that
// died without deregistering stays advertised, at most.
const DefaultTTL = 5 * time.Second

// Registrar registers endpoints under Prefix in etcd, each with a lease of
// its own, kept alive by the etcd client until deregistered.
type Registrar struct {
	client *clientv3.Client
	prefix string
	ttl    time.Duration
}

var _ discovery.Registrar = (*Registrar)(nil)

// ErrPrefix is returned for an empty key prefix.
var ErrPrefix = errors.New("etcd: empty key prefix")

// NewRegistrar returns a registrar for prefix on cli, with leases of ttl
// (DefaultTTL when 0; etcd rounds it to whole seconds, at least 1). The
// caller keeps cli and closes it after the registrations are done.
func NewRegistrar(cli *clientv3.Client, prefix string, ttl time.Duration) (*Registrar, error) {
	if cli == nil {
		return nil, errors.New("etcd: nil client")
	}
	if prefix == "" {
		return nil, ErrPrefix
	}
	if ttl < 0 {
		return nil, fmt.Errorf("etcd: negative TTL %v", ttl)
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	return &Registrar{client: cli, prefix: prefix, ttl: ttl}, nil
}

// Register grants a lease, puts prefix+endpoint under it and keeps it
// alive. ctx bounds the grant and the put.
func (r *Registrar) Register(ctx context.Context, endpoint string) (discovery.Registration, error) {
	if endpoint == "" {
		return nil, errors.New("etcd: Register: empty endpoint")
	}
	secs := max(int64((r.ttl+time.Second-1)/time.Second), 1)
	lease, err := r.client.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("etcd: grant lease: %w", err)
	}
	reg := &registration{r: r, lease: lease.ID, key: r.prefix + endpoint, lost: make(chan struct{}), done: make(chan struct{})}
	if _, err := r.client.Put(ctx, reg.key, endpoint, clientv3.WithLease(lease.ID)); err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = r.client.Revoke(rctx, lease.ID)
		cancel()
		return nil, fmt.Errorf("etcd: put %s: %w", reg.key, err)
	}
	kctx, stop := context.WithCancel(context.Background())
	ka, err := r.client.KeepAlive(kctx, lease.ID)
	if err != nil {
		stop()
		return nil, fmt.Errorf("etcd: keep lease alive: %w", err)
	}
	reg.stop = stop
	go reg.keepAlive(ka)
	return reg, nil
}

type registration struct {
	r     *Registrar
	lease clientv3.LeaseID
	key   string
	stop  context.CancelFunc
	lost  chan struct{}
	done  chan struct{} // the keep-alive goroutine has returned

	once sync.Once
	err  error
}

// keepAlive drains the keep-alive responses; the channel closes when the
// lease expired or could not be renewed (lost), when Deregister stopped
// it, or when the client closed.
func (g *registration) keepAlive(ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(g.done)
	for range ka {
	}
	select {
	case <-g.lost:
	default:
		close(g.lost)
	}
}

// Deregister stops the keep-alive and revokes the lease, which deletes
// the key at once.
func (g *registration) Deregister(ctx context.Context) error {
	g.once.Do(func() {
		g.stop()
		<-g.done
		if _, err := g.r.client.Revoke(ctx, g.lease); err != nil {
			g.err = fmt.Errorf("etcd: revoke lease of %s: %w", g.key, err)
		}
	})
	return g.err
}

// Lost is closed when the keep-alive stopped: after Deregister, or when
// the lease was lost (etcd unreachable past the TTL, or the client
// closed).
func (g *registration) Lost() <-chan struct{} { return g.lost }
