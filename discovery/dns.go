package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of DNS.
const (
	// DefaultResolveInterval is how often DNS resolves its name again.
	DefaultResolveInterval = 30 * time.Second
	// DefaultMinResolveInterval is the least time between two
	// resolutions, however often one is asked for.
	DefaultMinResolveInterval = time.Second
	// DefaultLookupTimeout bounds one resolution.
	DefaultLookupTimeout = 5 * time.Second
)

// DNS resolves a name with the standard library's resolver: the A and
// AAAA records of host:port (NewDNS), or the SRV records of a name
// (NewSRV). It resolves again every resolve interval and, when asked
// (Resolver's now), no sooner than the minimum interval after the last
// resolution; a failed resolution is retried with backoff from the
// minimum interval up to the resolve interval, and keeps the last set.
// libzmq itself connects to the first address of a name only
// (libzmq#2297), which is why the endpoints DNS reports are addresses.
type DNS struct {
	host, port string // A/AAAA; port is empty for SRV
	srv        bool
	cfg        dnsConfig
}

type dnsConfig struct {
	server   string
	resolver *net.Resolver
	interval time.Duration
	min      time.Duration
	timeout  time.Duration
	scheme   string
}

// DNSOption configures DNS. An invalid value makes the constructor
// return a *zmq.OptionError.
type DNSOption func(*dnsConfig) error

func optionError(name, reason string) error {
	return &zmq.OptionError{Option: name, Reason: reason}
}

// WithDNSServer sends the queries to addr (host:port, or host for port
// 53) over UDP, falling back to TCP for truncated answers, instead of the
// system's servers. It sets a resolver of its own (net.Resolver with
// PreferGo and Dial), so it replaces WithNetResolver.
func WithDNSServer(addr string) DNSOption {
	return func(c *dnsConfig) error {
		if addr == "" {
			return optionError("WithDNSServer", "empty address")
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "53")
		}
		c.server = addr
		var d net.Dialer
		c.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}
		return nil
	}
}

// WithNetResolver resolves with r (net.DefaultResolver by default).
func WithNetResolver(r *net.Resolver) DNSOption {
	return func(c *dnsConfig) error {
		if r == nil {
			return optionError("WithNetResolver", "nil resolver")
		}
		c.resolver = r
		return nil
	}
}

// WithResolveInterval sets how often the name is resolved again
// (DefaultResolveInterval); it must be positive.
func WithResolveInterval(d time.Duration) DNSOption {
	return func(c *dnsConfig) error {
		if d <= 0 {
			return optionError("WithResolveInterval", fmt.Sprintf("%v is not positive", d))
		}
		c.interval = d
		return nil
	}
}

// WithMinResolveInterval sets the least time between two resolutions
// (DefaultMinResolveInterval); it must be positive, and is capped by the
// resolve interval.
func WithMinResolveInterval(d time.Duration) DNSOption {
	return func(c *dnsConfig) error {
		if d <= 0 {
			return optionError("WithMinResolveInterval", fmt.Sprintf("%v is not positive", d))
		}
		c.min = d
		return nil
	}
}

// WithLookupTimeout bounds one resolution (DefaultLookupTimeout); it must
// be positive.
func WithLookupTimeout(d time.Duration) DNSOption {
	return func(c *dnsConfig) error {
		if d <= 0 {
			return optionError("WithLookupTimeout", fmt.Sprintf("%v is not positive", d))
		}
		c.timeout = d
		return nil
	}
}

// WithScheme sets the transport of the endpoints reported ("tcp" by
// default; "ws" or "tls+ws" work too).
func WithScheme(s string) DNSOption {
	return func(c *dnsConfig) error {
		if s == "" {
			return optionError("WithScheme", "empty scheme")
		}
		c.scheme = s
		return nil
	}
}

func newDNS(opts []DNSOption) (dnsConfig, error) {
	cfg := dnsConfig{resolver: net.DefaultResolver, interval: DefaultResolveInterval,
		min: DefaultMinResolveInterval, timeout: DefaultLookupTimeout, scheme: "tcp"}
	if err := option.Apply(&cfg, opts); err != nil {
		return cfg, err
	}
	cfg.min = min(cfg.min, cfg.interval)
	return cfg, nil
}

// NewDNS returns a resolver for hostport ("name:5555"): the addresses of
// name, each with the port.
func NewDNS(hostport string, opts ...DNSOption) (*DNS, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return nil, fmt.Errorf("%w: %q: want host:port", ErrTarget, hostport)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("%w: %q: bad port", ErrTarget, hostport)
	}
	cfg, err := newDNS(opts)
	if err != nil {
		return nil, err
	}
	return &DNS{host: host, port: port, cfg: cfg}, nil
}

// NewSRV returns a resolver for the SRV records of name (for example
// "_zmq._tcp.svc.example"): each record's target's addresses, with the
// record's port. Priorities and weights are not used: every replica is a
// peer, and the client balances.
func NewSRV(name string, opts ...DNSOption) (*DNS, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty SRV name", ErrTarget)
	}
	cfg, err := newDNS(opts)
	if err != nil {
		return nil, err
	}
	return &DNS{host: name, srv: true, cfg: cfg}, nil
}

// Resolve resolves the name until ctx ends (see DNS).
func (d *DNS) Resolve(ctx context.Context, now <-chan struct{}, update func(Update)) error {
	retry := backoff.Policy{Initial: d.cfg.min, Max: d.cfg.interval, Multiplier: 2}
	var last []string
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	var earliest time.Time // no resolution before this
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-now:
			if wait := time.Until(earliest); wait > 0 {
				// Too soon: resolve at the minimum interval instead
				// (or at the timer, when that comes first).
				if !timer.Stop() {
					<-timer.C
				}
				timer.Reset(wait)
				continue
			}
			if !timer.Stop() {
				<-timer.C
			}
		}
		eps, err := d.lookup(ctx)
		earliest = time.Now().Add(d.cfg.min)
		next := d.cfg.interval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			next = retry.Delay(failures, 0)
			failures++
			update(Update{Err: err})
		default:
			failures = 0
			if last == nil || !slices.Equal(eps, last) {
				last = eps
				update(Update{Endpoints: eps})
			}
		}
		timer.Reset(next)
	}
}

// lookup resolves the name once.
func (d *DNS) lookup(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.timeout)
	defer cancel()
	r := d.cfg.resolver
	var eps []string
	if !d.srv {
		ips, err := r.LookupNetIP(ctx, "ip", d.host)
		if err != nil {
			return nil, fmt.Errorf("discovery: resolve %s: %w", d.host, err)
		}
		for _, ip := range ips {
			eps = append(eps, d.endpoint(ip, d.port))
		}
	} else {
		_, srvs, err := r.LookupSRV(ctx, "", "", d.host)
		if err != nil {
			return nil, fmt.Errorf("discovery: resolve SRV %s: %w", d.host, err)
		}
		for _, s := range srvs {
			port := strconv.Itoa(int(s.Port))
			if ip, err := netip.ParseAddr(s.Target); err == nil {
				eps = append(eps, d.endpoint(ip, port))
				continue
			}
			ips, err := r.LookupNetIP(ctx, "ip", s.Target)
			if err != nil {
				return nil, fmt.Errorf("discovery: resolve SRV target %s: %w", s.Target, err)
			}
			for _, ip := range ips {
				eps = append(eps, d.endpoint(ip, port))
			}
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("discovery: resolve %s: no addresses", d.host)
	}
	return Normalize(eps), nil
}

func (d *DNS) endpoint(ip netip.Addr, port string) string {
	return d.cfg.scheme + "://" + net.JoinHostPort(ip.Unmap().String(), port)
}
