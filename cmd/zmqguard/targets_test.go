package main_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/contrib/dnstest"
)

func TestReqDNSTarget(t *testing.T) {
	ep, _ := serve(t)
	port := ep[strings.LastIndex(ep, ":")+1:]
	dns, err := dnstest.Start()
	require.NoError(t, err)
	defer dns.Close()
	dns.SetAddrs("one.zmqguard.test", netip.MustParseAddr("127.0.0.1"))
	r := zg(t, "req", fmt.Sprintf("dns://%s/one.zmqguard.test:%s", dns.Addr(), port), "hello")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "hello\n", r.stdout)

	// A name nobody has: no endpoint, the request gives up (exit 2).
	r = zg(t, "req", "--timeout", "100ms", "--retries", "0", fmt.Sprintf("dns://%s/none.zmqguard.test:%s", dns.Addr(), port), "hello")
	assert.Equal(t, 2, r.code)
}

func TestTargetUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"req", "--endpoint", "tcp://127.0.0.1:1", "dns:///a.test:1", "x"},
		{"req", "dns:///a.test", "x"},
		{"req", "etcd://nohostport/p", "x"},
		{"req", "etcd://127.0.0.1:1", "x"},
		{"req", "--plain", "dns:///a.test:1", "x"},
	} {
		assert.Equal(t, 64, zg(t, args...).code, "%q", args)
	}
	// Registering needs an etcd target, and an address clients can reach.
	for _, args := range [][]string{
		{"serve", "--register", "dns:///a.test:1", "tcp://127.0.0.1:*"},
		{"serve", "--register", "etcd://127.0.0.1:1/p/", "tcp://0.0.0.0:*"},
	} {
		r := zg(t, args...)
		assert.Equal(t, 1, r.code, "%q", args)
	}
}
