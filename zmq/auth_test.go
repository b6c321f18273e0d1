package zmq_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// authRoundTrip sends a request from req to rep over the connection set up
// by the caller and reports whether the server got it and answered
// within d (a refused peer never gets a connection).
func authRoundTrip(t *testing.T, rep, req *zmq.Socket, d time.Duration) bool {
	t.Helper()
	require.NoError(t, req.SetRcvtimeo(d))
	require.NoError(t, rep.SetRcvtimeo(d))
	if _, err := req.Send("hello", zmq.DONTWAIT); err != nil {
		return false // IMMEDIATE: no admitted connection to queue it on
	}
	msg, err := rep.Recv(0)
	if err != nil {
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		return false
	}
	require.Equal(t, "hello", msg)
	_, err = rep.Send("world", 0)
	require.NoError(t, err)
	reply, err := req.Recv(0)
	require.NoError(t, err)
	assert.Equal(t, "world", reply)
	return true
}

func curveServer(t *testing.T, c *zmq.Context, secret string) (*zmq.Socket, string) {
	t.Helper()
	rep := zmqtest.Socket(t, c, zmq.REP)
	require.NoError(t, rep.SetCurveServer(1))
	require.NoError(t, rep.SetCurveSecretkey(secret))
	require.NoError(t, rep.SetZapDomain("test"))
	return rep, zmqtest.Bind(t, rep, "tcp")
}

func curveClient(t *testing.T, c *zmq.Context, ep, serverPub string) (*zmq.Socket, string, string) {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	return curveClientWith(t, c, ep, serverPub, pub, sec), pub, sec
}

func curveClientWith(t *testing.T, c *zmq.Context, ep, serverPub, pub, sec string) *zmq.Socket {
	t.Helper()
	req := zmqtest.Socket(t, c, zmq.REQ)
	require.NoError(t, req.SetImmediate(true))
	require.NoError(t, req.SetCurveServerkey(serverPub))
	require.NoError(t, req.SetCurvePublickey(pub))
	require.NoError(t, req.SetCurveSecretkey(sec))
	require.NoError(t, req.Connect(ep))
	return req
}

// TestAuthCurve: on a context from NewContext (which pebbe/zmq4's
// AuthStart does not serve), the Authenticator admits the CURVE clients it
// knows and refuses the others (and a key revoked), and CURVE_ALLOW_ANY
// admits anyone.
func TestAuthCurve(t *testing.T) {
	c := zmqtest.Context(t)
	a, err := c.StartAuth()
	require.NoError(t, err)
	serverPub, serverSec, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	rep, ep := curveServer(t, c, serverSec)

	known, knownPub, knownSec := curveClient(t, c, ep, serverPub)
	a.AllowCurve("test", knownPub)
	stranger, _, _ := curveClient(t, c, ep, serverPub)

	assert.Eventually(t, func() bool { return authRoundTrip(t, rep, known, 200*time.Millisecond) },
		10*time.Second, time.Millisecond, "a known key is admitted")
	assert.False(t, authRoundTrip(t, rep, stranger, 300*time.Millisecond), "an unknown key is refused")

	a.RevokeCurve("test", knownPub)
	again := curveClientWith(t, c, ep, serverPub, knownPub, knownSec)
	assert.False(t, authRoundTrip(t, rep, again, 300*time.Millisecond), "a revoked key is refused")

	a.AllowCurve("*", zmq.CURVE_ALLOW_ANY)
	anyone, _, _ := curveClient(t, c, ep, serverPub)
	assert.Eventually(t, func() bool { return authRoundTrip(t, rep, anyone, 200*time.Millisecond) },
		10*time.Second, time.Millisecond, "CURVE_ALLOW_ANY admits any key on any domain")
	require.NoError(t, a.Stop())
	require.NoError(t, a.Stop(), "Stop is idempotent")
}

// TestAuthPlainAndAddresses: PLAIN needs a known user and password; a
// denied address is refused whatever its credentials.
func TestAuthPlainAndAddresses(t *testing.T) {
	c := zmqtest.Context(t)
	a, err := c.StartAuth()
	require.NoError(t, err)
	a.AllowPlain("test", "admin", "secret")
	rep := zmqtest.Socket(t, c, zmq.REP)
	require.NoError(t, rep.SetPlainServer(1))
	require.NoError(t, rep.SetZapDomain("test"))
	ep := zmqtest.Bind(t, rep, "tcp")
	client := func(user, password string) *zmq.Socket {
		req := zmqtest.Socket(t, c, zmq.REQ)
		require.NoError(t, req.SetImmediate(true))
		require.NoError(t, req.SetPlainUsername(user))
		require.NoError(t, req.SetPlainPassword(password))
		require.NoError(t, req.Connect(ep))
		return req
	}
	good, bad := client("admin", "secret"), client("admin", "guess")
	assert.Eventually(t, func() bool { return authRoundTrip(t, rep, good, 200*time.Millisecond) },
		10*time.Second, time.Millisecond, "the right password is admitted")
	assert.False(t, authRoundTrip(t, rep, bad, 300*time.Millisecond), "a wrong password is refused")

	// Address rules are per domain.
	require.NoError(t, a.Deny("other", "127.0.0.1"))
	still := client("admin", "secret")
	assert.Eventually(t, func() bool { return authRoundTrip(t, rep, still, 200*time.Millisecond) },
		10*time.Second, time.Millisecond, "an address denied on another domain is admitted")
	require.NoError(t, a.Deny("test", "127.0.0.0/8"))
	denied := client("admin", "secret")
	assert.False(t, authRoundTrip(t, rep, denied, 300*time.Millisecond), "a denied address is refused")
}

// TestAuthLifecycle: one authenticator per context; Term stops it (the
// goroutine leak check of TestMain would see it otherwise).
func TestAuthLifecycle(t *testing.T) {
	c, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	_, err = c.StartAuth()
	require.NoError(t, err)
	_, err = c.StartAuth()
	assert.ErrorIs(t, err, zmq.ErrAuthRunning)
	require.NoError(t, c.Term())
}

// The address rules, per domain, with "*" for all, IPv4 and IPv6
// addresses and CIDR prefixes, decided for a NULL peer.
func TestAuthAddressRules(t *testing.T) {
	c := zmqtest.Context(t)
	a, err := c.StartAuth()
	require.NoError(t, err)
	require.NoError(t, a.Deny("a", "127.0.0.1"))
	require.NoError(t, a.Deny("*", "10.0.0.0/8"))
	require.NoError(t, a.Allow("c", "192.168.0.0/16", "2001:db8::/32"))
	require.NoError(t, a.Allow("d", "::ffff:172.16.0.0/108"))

	for _, tc := range []struct {
		domain, addr string
		admitted     bool
	}{
		{"a", "127.0.0.1", false},
		{"b", "127.0.0.1", true},
		{"a", "127.0.0.2", true},
		{"b", "10.9.8.7", false},
		{"c", "10.9.8.7", false}, // "*" denies before c allows
		{"b", "11.0.0.1", true},
		{"c", "192.168.3.4", true},
		{"c", "::ffff:192.168.3.4", true}, // IPv4-mapped reads as IPv4
		{"c", "2001:db8::5", true},
		{"c", "127.0.0.1", false}, // c allows some addresses, not this one
		{"c", "not an address", false},
		{"d", "172.16.9.9", true}, // a mapped prefix reads as IPv4 too
		{"d", "172.32.0.1", false},
		{"b", "not an address", true}, // no rule applies to b
	} {
		assert.Equal(t, tc.admitted, zmq.AuthAdmits(a, tc.domain, tc.addr), "%s %s", tc.domain, tc.addr)
	}

	for _, bad := range [][]string{{"not an address"}, {"192.168.0.0/33"}, {}} {
		err := a.Allow("e", bad...)
		assert.ErrorIs(t, err, zmq.ErrInvalidAddress, "%q", bad)
	}
	assert.True(t, zmq.AuthAdmits(a, "e", "127.0.0.1"), "a refused Allow added nothing")
}

// SetMetadata: the properties it returns for an admitted peer come with
// every message from that peer, next to the User-Id the Authenticator
// sets; a function that panics gets its peer refused, and the
// Authenticator goes on serving.
func TestAuthMetadata(t *testing.T) {
	c := zmqtest.Context(t)
	a, err := c.StartAuth()
	require.NoError(t, err)
	a.AllowPlain("meta", "alice", "pw")
	var mu sync.Mutex // the Authenticator calls the function on its goroutine
	var seen []zmq.Peer
	a.SetMetadata(func(p zmq.Peer) map[string]string {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
		if p.User == "panic" {
			panic("a broken metadata function")
		}
		return map[string]string{"Tier": "gold", "Domain": p.Domain, "": "dropped"}
	})
	a.AllowPlain("meta", "panic", "pw")

	rep := zmqtest.Socket(t, c, zmq.REP)
	require.NoError(t, rep.SetPlainServer(1))
	require.NoError(t, rep.SetZapDomain("meta"))
	ep := zmqtest.Bind(t, rep, "tcp")
	client := func(user string) *zmq.Socket {
		req := zmqtest.Socket(t, c, zmq.REQ)
		require.NoError(t, req.SetImmediate(true))
		require.NoError(t, req.SetPlainUsername(user))
		require.NoError(t, req.SetPlainPassword("pw"))
		require.NoError(t, req.Connect(ep))
		return req
	}

	broken := client("panic")
	assert.False(t, authRoundTrip(t, rep, broken, 300*time.Millisecond), "the peer of a panicking function is refused")

	alice := client("alice")
	require.NoError(t, rep.SetRcvtimeo(10*time.Second))
	require.Eventually(t, func() bool {
		_, err := alice.Send("hello", zmq.DONTWAIT)
		return err == nil
	}, 10*time.Second, time.Millisecond, "alice is admitted: the Authenticator survived the panic")
	msg, meta, err := rep.RecvWithMetadata(0, "Tier", "Domain", "User-Id")
	require.NoError(t, err)
	assert.Equal(t, "hello", msg)
	assert.Equal(t, map[string]string{"Tier": "gold", "Domain": "meta", "User-Id": "alice"}, meta)

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	last := seen[len(seen)-1]
	assert.Equal(t, zmq.Peer{Domain: "meta", Address: "127.0.0.1", Mechanism: "PLAIN", User: "alice"}, last)
}
