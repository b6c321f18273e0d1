package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Resolver turns a target into a set of endpoints (ZeroMQ endpoint
// strings such as tcp://10.0.0.7:5555) that changes over time.
type Resolver interface {
	// Resolve watches the target until ctx ends, and then returns nil (or
	// a permanent error earlier, such as a malformed target). It calls
	// update with the whole current set, sorted and without duplicates,
	// as soon as it is known and each time it changes, and with
	// Update.Err set when a resolution failed (the last set stays in
	// force). A value on now asks for a resolution soon, for example
	// after requests failed; a resolver that polls honours its minimum
	// interval, one that is pushed changes may ignore it.
	Resolve(ctx context.Context, now <-chan struct{}, update func(Update)) error
}

// Update is what a Resolver reports: the current endpoints, or, with Err
// set, that a resolution failed (Endpoints is then nil and the previous
// set stays in force).
type Update struct {
	Endpoints []string
	Err       error
}

// ErrTarget is matched (errors.Is) by the error for a target that cannot
// be parsed.
var ErrTarget = errors.New("discovery: bad target")

// Static is a fixed set of endpoints: it reports them once, and again on
// every request for a resolution.
type Static []string

// Resolve reports the set once and then waits for ctx.
func (s Static) Resolve(ctx context.Context, now <-chan struct{}, update func(Update)) error {
	update(Update{Endpoints: Normalize(s)})
	<-ctx.Done()
	return nil
}

// Normalize returns eps sorted, without duplicates and empty strings, as
// a Resolver reports them. It does not change eps.
func Normalize(eps []string) []string {
	out := make([]string, 0, len(eps))
	for _, e := range eps {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Parse returns the Resolver for a target:
//
//   - dns:///host:port or dns://server:53/host:port: the A and AAAA
//     records of host, each with port (tcp://ip:port); server, when
//     given, is the DNS server to ask instead of the system's;
//   - dns+srv:///_service._tcp.name or dns+srv://server:53/...: the SRV
//     records of the name, each target's addresses with the record's port;
//   - anything else: a comma-separated list of ZeroMQ endpoints (Static).
//
// DNS targets get the defaults of DNS; opts change them. A malformed
// target returns an error matching ErrTarget.
func Parse(target string, opts ...DNSOption) (Resolver, error) {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || (scheme != "dns" && scheme != "dns+srv") {
		if len(opts) > 0 {
			return nil, fmt.Errorf("%w: %q: DNS options for a static target", ErrTarget, target)
		}
		st := Static(strings.Split(target, ","))
		if len(Normalize(st)) == 0 {
			return nil, fmt.Errorf("%w: %q: no endpoints", ErrTarget, target)
		}
		for _, e := range st {
			if e = strings.TrimSpace(e); e != "" && !strings.Contains(e, "://") {
				return nil, fmt.Errorf("%w: %q is not a ZeroMQ endpoint (transport://address)", ErrTarget, e)
			}
		}
		return st, nil
	}
	server, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return nil, fmt.Errorf("%w: %q: want %s://[server]/name", ErrTarget, target, scheme)
	}
	all := opts
	if server != "" {
		all = append([]DNSOption{WithDNSServer(server)}, opts...)
	}
	if scheme == "dns+srv" {
		return NewSRV(name, all...)
	}
	return NewDNS(name, all...)
}
