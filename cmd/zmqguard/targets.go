package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zmqguard/zmqguard/contrib/etcd"
	"github.com/zmqguard/zmqguard/discovery"
)

// isTarget reports whether s names a set of endpoints to resolve (dns://,
// dns+srv://, etcd://) rather than one endpoint.
func isTarget(s string) bool {
	for _, p := range []string{"dns://", "dns+srv://", "etcd://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// etcdTarget is etcd://HOST:PORT[,HOST:PORT...]/PREFIX: the etcd client
// URLs (http) and the key prefix (with its leading slash).
func etcdTarget(target string) (urls []string, prefix string, err error) {
	rest, ok := strings.CutPrefix(target, "etcd://")
	if !ok {
		return nil, "", fmt.Errorf("%q is not an etcd://HOST:PORT/PREFIX target", target)
	}
	hosts, path, ok := strings.Cut(rest, "/")
	if !ok || hosts == "" || path == "" {
		return nil, "", fmt.Errorf("%q: want etcd://HOST:PORT/PREFIX", target)
	}
	for _, h := range strings.Split(hosts, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, "", fmt.Errorf("%q: etcd address %q: want HOST:PORT", target, h)
		}
		urls = append(urls, "http://"+h)
	}
	return urls, "/" + path, nil
}

// etcdClient connects to the etcd of an etcd:// target and returns the
// target's key prefix; the client's log goes nowhere (the commands report
// errors themselves).
func etcdClient(target string) (*clientv3.Client, string, error) {
	urls, prefix, err := etcdTarget(target)
	if err != nil {
		return nil, "", err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: urls, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	return cli, prefix, err
}

// resolverFor returns the resolver of a target and a function that
// releases what it holds.
func resolverFor(target string, interval time.Duration) (discovery.Resolver, func(), error) {
	if strings.HasPrefix(target, "etcd://") {
		cli, prefix, err := etcdClient(target)
		if err != nil {
			return nil, nil, err
		}
		r, err := etcd.NewResolver(cli, prefix)
		if err != nil {
			cli.Close()
			return nil, nil, err
		}
		return r, func() { cli.Close() }, nil
	}
	r, err := discovery.Parse(target, discovery.WithResolveInterval(interval),
		discovery.WithMinResolveInterval(min(interval, discovery.DefaultMinResolveInterval)))
	if err != nil {
		return nil, nil, err
	}
	return r, func() {}, nil
}

// registrarFor returns the registrar of an etcd:// target and a function
// that releases what it holds.
func registrarFor(target string, ttl time.Duration) (discovery.Registrar, func(), error) {
	if !strings.HasPrefix(target, "etcd://") {
		return nil, nil, errors.New("--register takes an etcd://HOST:PORT/PREFIX target")
	}
	cli, prefix, err := etcdClient(target)
	if err != nil {
		return nil, nil, err
	}
	r, err := etcd.NewRegistrar(cli, prefix, ttl)
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	return r, func() { cli.Close() }, nil
}
