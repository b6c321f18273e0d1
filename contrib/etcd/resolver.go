package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/internal/backoff"
)

// Resolver reports the endpoints registered under a key prefix (the
// values of its keys), watching it for changes.
type Resolver struct {
	client *clientv3.Client
	prefix string
}

var _ discovery.Resolver = (*Resolver)(nil)

// NewResolver returns a resolver for prefix on cli. The caller keeps cli.
func NewResolver(cli *clientv3.Client, prefix string) (*Resolver, error) {
	if cli == nil {
		return nil, errors.New("etcd: nil client")
	}
	if prefix == "" {
		return nil, ErrPrefix
	}
	return &Resolver{client: cli, prefix: prefix}, nil
}

// checkInterval is how often a watching Resolver looks at its connection
// to etcd; down at two looks in a row is an outage.
const checkInterval = time.Second

// retry paces the reads after a failure.
var retry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// Resolve reads the prefix, reports it, and watches it from the revision
// read on, reporting the set after each batch of changes, until ctx ends.
// When the watch fails (etcd unreachable, the revision compacted) it
// reports the error, keeps the last set, and reads the prefix again with
// backoff. now is not used: etcd pushes every change.
func (r *Resolver) Resolve(ctx context.Context, _ <-chan struct{}, update func(discovery.Update)) error {
	failures := 0
	for ctx.Err() == nil {
		err := r.watch(ctx, update)
		if ctx.Err() != nil {
			break
		}
		update(discovery.Update{Err: err})
		t := time.NewTimer(retry.Delay(failures, 0.5))
		failures++
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return nil
}

// watch reads the prefix and follows it until the watch fails.
func (r *Resolver) watch(ctx context.Context, update func(discovery.Update)) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := r.client.Get(rctx, r.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return fmt.Errorf("etcd: read %s: %w", r.prefix, err)
	}
	set := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		set[string(kv.Key)] = string(kv.Value)
	}
	report := func() {
		eps := make([]string, 0, len(set))
		for _, v := range set {
			eps = append(eps, v)
		}
		update(discovery.Update{Endpoints: discovery.Normalize(eps)})
	}
	report()
	wctx, stop := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer stop()
	// Watch waits for its stream to be set up, as long as wctx lasts:
	// bound that wait, or an etcd that goes away now would hold it.
	giveUp := time.AfterFunc(2*checkInterval, stop)
	wch := r.client.Watch(wctx, r.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	if !giveUp.Stop() {
		return fmt.Errorf("etcd: watch %s: not set up within %v", r.prefix, 2*checkInterval)
	}
	// The watch stream reconnects by itself, silently (and a read may
	// wait for the connection past its deadline): the connection's state,
	// looked at now and then, makes an outage an error.
	check := time.NewTicker(checkInterval)
	down := 0
	defer check.Stop()
	for {
		var wr clientv3.WatchResponse
		var ok bool
		select {
		case wr, ok = <-wch:
		case <-check.C:
			if r.client.ActiveConnection().GetState() == connectivity.Ready {
				down = 0
				continue
			}
			if down++; down >= 2 {
				return fmt.Errorf("etcd: %s: connection down for %v", r.prefix, time.Duration(down)*checkInterval)
			}
			continue
		}
		if !ok {
			break
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("etcd: watch %s: %w", r.prefix, err)
		}
		before := len(set)
		changed := false
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key)
			switch ev.Type {
			case clientv3.EventTypePut:
				changed = changed || set[k] != string(ev.Kv.Value)
				set[k] = string(ev.Kv.Value)
			case clientv3.EventTypeDelete:
				_, had := set[k]
				changed = changed || had
				delete(set, k)
			}
		}
		if changed || before != len(set) {
			report()
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("etcd: watch ended")
}
