package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/zmqguard/zmqguard/contrib/etcd"
	"github.com/zmqguard/zmqguard/discovery"
)

// registerFlags are serve's flags for registering with etcd.
type registerFlags struct {
	target    *string
	advertise *string
	ttl       *time.Duration
	grace     *time.Duration
}

func addRegisterFlags(f *cmdFlags) registerFlags {
	return registerFlags{
		target:    f.String("register", "", "register the endpoint under etcd://HOST:PORT/PREFIX while serving"),
		advertise: f.String("advertise", "", "the endpoint to register (default: the bound one; needed when bound to a wildcard address)"),
		ttl:       f.Duration("register-ttl", etcd.DefaultTTL, "lease TTL: how long a killed server stays registered, at most"),
		grace:     f.Duration("drain-grace", time.Second, "at SIGTERM, how long to wait after deregistering before draining: the clients' resolve interval (with --register; without, 0 unless given)"),
	}
}

// register registers addr (or --advertise) when --register is set; the
// returned function releases the etcd client. A nil Registration means
// none was asked for.
func (r registerFlags) register(addr string) (discovery.Registration, func(), error) {
	if *r.target == "" {
		return nil, func() {}, nil
	}
	if *r.advertise != "" {
		addr = *r.advertise
	}
	if err := advertisable(addr); err != nil {
		return nil, nil, err
	}
	reg, release, err := registrarFor(*r.target, *r.ttl)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := reg.Register(ctx, addr)
	if err != nil {
		release()
		return nil, nil, err
	}
	return g, release, nil
}

// advertisable refuses an endpoint that clients elsewhere cannot connect
// to: a wildcard host.
func advertisable(addr string) error {
	_, hostport, _ := strings.Cut(addr, "://")
	host, _, err := net.SplitHostPort(hostport)
	if err == nil && (host == "*" || host == "0.0.0.0" || host == "::") {
		return fmt.Errorf("cannot register %s, bound to a wildcard address: give --advertise", addr)
	}
	return nil
}
