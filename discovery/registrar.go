package discovery

import (
	"context"
	"errors"
	"time"
)

// Registrar puts a server's endpoint under a name that clients resolve
// (for example a key under an etcd prefix with a lease, in contrib/etcd).
// The registration lasts while the process lives: a registrar keeps it
// alive, and a process that dies without deregistering disappears when
// the registration expires (an etcd lease's TTL).
type Registrar interface {
	// Register advertises endpoint until the Registration is
	// deregistered or expires. ctx bounds the call, not the registration.
	Register(ctx context.Context, endpoint string) (Registration, error)
}

// Registration is one advertised endpoint.
type Registration interface {
	// Deregister withdraws the endpoint at once; clients stop sending new
	// requests to it when they see the change. It is idempotent. ctx
	// bounds the call.
	Deregister(ctx context.Context) error
	// Lost is closed when the registration ended without Deregister (the
	// registrar could not keep it alive): the server is no longer
	// advertised.
	Lost() <-chan struct{}
}

// Drain stops a registered server gracefully, in the order that loses no
// request: it deregisters reg, waits grace (at least the clients' resolve
// interval, so that they have stopped choosing this server), then calls
// stop (reliable.Server.Shutdown, which answers what is still in flight,
// or a ppp.Worker's Close). ctx bounds the whole; the errors of
// Deregister and stop are joined.
func Drain(ctx context.Context, reg Registration, grace time.Duration, stop func(context.Context) error) error {
	var errs []error
	if reg != nil {
		errs = append(errs, reg.Deregister(ctx))
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if stop != nil {
		errs = append(errs, stop(ctx))
	}
	return errors.Join(errs...)
}
