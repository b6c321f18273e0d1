package zmq

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
)

// zapEndpoint is where libzmq sends a context's ZAP requests (RFC 27).
const zapEndpoint = "inproc://zeromq.zap.01"

// ErrAuthRunning is returned by Context.StartAuth when the context already
// has an authenticator.
var ErrAuthRunning = errors.New("zmq: the context already has an authenticator")

// Authenticator is a ZAP handler (ZeroMQ RFC 27) for one Context: it
// decides which peers may connect to that context's sockets that use
// NULL with a ZAP domain, PLAIN or CURVE security. pebbe/zmq4's AuthStart
// serves only its default context; an Authenticator serves any Context
// from NewContext.
//
// Its policy, per ZAP domain, as pebbe/zmq4's: a peer whose IP address is
// denied for the socket's domain is refused; when any address is allowed
// for the domain, a peer whose address is not allowed is refused. Then NULL
// is admitted, PLAIN needs a user and password added for the domain, and
// CURVE needs the client's public key (Z85) allowed for the domain, or
// CURVE_ALLOW_ANY. The domain "*" applies to every domain.
//
// The handler parks a goroutine, not an OS thread. It stops with Stop or
// when the context is terminated. An Authenticator is safe for concurrent
// use; its policy can change while it runs.
type Authenticator struct {
	mu    sync.Mutex
	allow map[string]*addrSet // domain -> addresses
	deny  map[string]*addrSet
	plain map[string]map[string]string // domain -> user -> password
	curve map[string]map[string]bool   // domain -> Z85 public key
	meta  func(Peer) map[string]string // see SetMetadata
	// verbose logs every decision; only pebbe's AuthSetVerbose sets it.
	verbose bool

	// Set while serving; guarded by the context's mu.
	sock *Socket
	done chan struct{}
}

func newAuthenticator() *Authenticator {
	return &Authenticator{
		allow: map[string]*addrSet{}, deny: map[string]*addrSet{},
		plain: map[string]map[string]string{}, curve: map[string]map[string]bool{},
	}
}

// StartAuth starts an Authenticator for the context's sockets. Set its
// policy before peers connect: until then it admits only NULL peers.
func (c *Context) StartAuth() (*Authenticator, error) {
	a := newAuthenticator()
	if err := c.serveAuth(a); err != nil {
		return nil, err
	}
	return a, nil
}

// serveAuth makes a the context's ZAP handler: it binds the ZAP endpoint
// and starts a's goroutine.
func (c *Context) serveAuth(a *Authenticator) error {
	c.mu.Lock()
	running := c.auth != nil
	c.mu.Unlock()
	if running {
		return ErrAuthRunning
	}
	s, err := c.NewSocket(REP)
	if err != nil {
		return err
	}
	s.internal = true
	if err := s.SetLinger(0); err != nil {
		s.Close()
		return err
	}
	if err := s.Bind(zapEndpoint); err != nil {
		s.Close()
		if errors.Is(err, EADDRINUSE) {
			return ErrAuthRunning
		}
		return err
	}
	done := make(chan struct{})
	a.mu.Lock()
	a.sock, a.done = s, done
	a.mu.Unlock()
	c.mu.Lock()
	c.auth = a
	c.mu.Unlock()
	go a.serve(s, done)
	return nil
}

// Allow admits only peers from the given IP addresses on sockets of the
// ZAP domain ("*": any domain), with those of earlier calls. An address is
// an IP address ("192.0.2.7", "2001:db8::1") or a CIDR prefix
// ("192.0.2.0/24"). An invalid one is reported as ErrInvalidAddress and
// nothing is added.
func (a *Authenticator) Allow(domain string, addrs ...string) error {
	return a.addAddrs(a.allow, domain, addrs)
}

// Deny refuses peers from the given IP addresses or CIDR prefixes on
// sockets of the ZAP domain ("*": any domain), as Allow reads them.
func (a *Authenticator) Deny(domain string, addrs ...string) error {
	return a.addAddrs(a.deny, domain, addrs)
}

func (a *Authenticator) addAddrs(lists map[string]*addrSet, domain string, addrs []string) error {
	if len(addrs) == 0 {
		// Allow("192.0.2.7") compiles, with the address as the domain.
		return fmt.Errorf("%w: none given for domain %q", ErrInvalidAddress, domain)
	}
	var add addrSet
	for _, ad := range addrs {
		if err := add.add(ad); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if lists[domain] == nil {
		lists[domain] = &addrSet{}
	}
	lists[domain].merge(&add)
	return nil
}

// AllowPlain admits a PLAIN client with this user name and password on
// sockets of the ZAP domain ("*": any domain).
func (a *Authenticator) AllowPlain(domain, user, password string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.plain[domain] == nil {
		a.plain[domain] = map[string]string{}
	}
	a.plain[domain][user] = password
}

// AllowCurve admits CURVE clients with these public keys (Z85, as
// NewCurveKeypair returns them), or any client with CURVE_ALLOW_ANY, on
// sockets of the ZAP domain ("*": any domain).
func (a *Authenticator) AllowCurve(domain string, publicKeys ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.curve[domain] == nil {
		a.curve[domain] = map[string]bool{}
	}
	for _, k := range publicKeys {
		a.curve[domain][k] = true
	}
}

// RevokeCurve stops admitting these CURVE public keys on the domain; with
// no keys, every key of the domain. A connection already admitted stays.
func (a *Authenticator) RevokeCurve(domain string, publicKeys ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(publicKeys) == 0 {
		delete(a.curve, domain)
	}
	for _, k := range publicKeys {
		delete(a.curve[domain], k)
	}
}

// RevokePlain stops admitting these PLAIN users on the domain; with no
// users, every user of the domain. A connection already admitted stays.
func (a *Authenticator) RevokePlain(domain string, users ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(users) == 0 {
		delete(a.plain, domain)
	}
	for _, u := range users {
		delete(a.plain[domain], u)
	}
}

// Stop stops the handler and waits for it. Peers of the context's secured
// sockets are then refused by libzmq. Stop is idempotent.
func (a *Authenticator) Stop() error {
	a.mu.Lock()
	s, done := a.sock, a.done
	a.mu.Unlock()
	if s == nil {
		return nil
	}
	err := s.Close()
	<-done
	c := s.ctx
	c.mu.Lock()
	if c.auth == a {
		c.auth = nil
	}
	c.mu.Unlock()
	return err
}

// serve answers ZAP requests on s until it is closed.
func (a *Authenticator) serve(s *Socket, done chan struct{}) {
	defer close(done)
	for {
		req, err := s.RecvMessageBytes(0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a malformed exchange: wait for the next request
		}
		if _, err := s.SendMessage(a.answer(req)); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// answer turns a ZAP request into its reply frames.
func (a *Authenticator) answer(req [][]byte) [][]byte {
	// version, request id, domain, address, routing id, mechanism,
	// credentials...
	if len(req) < 6 || string(req[0]) != "1.0" {
		id := []byte{}
		if len(req) > 1 {
			id = req[1]
		}
		return zapReply(id, "500", "malformed ZAP request", "")
	}
	id, domain, addr, mech, creds := req[1], string(req[2]), string(req[3]), string(req[5]), req[6:]
	if ok, why := a.admits(domain, addr, mech, creds); !ok {
		a.logf("ZAP: refused %s peer %s on domain %q: %s", mech, addr, domain, why)
		return zapReply(id, "400", why, "")
	}
	a.logf("ZAP: admitted %s peer %s on domain %q", mech, addr, domain)
	user := ""
	switch mech {
	case "PLAIN":
		user = string(creds[0])
	case "CURVE":
		user = Z85encode(string(creds[0]))
	}
	meta, ok := a.metadata(Peer{Domain: domain, Address: addr, RoutingID: string(req[4]), Mechanism: mech, User: user})
	if !ok {
		return zapReply(id, "500", metadataFailed, "")
	}
	reply := zapReply(id, "200", "OK", user)
	if meta != nil {
		reply[len(reply)-1] = meta
	}
	return reply
}

// admits applies the policy; it says why when it refuses.
func (a *Authenticator) admits(domain, addr, mech string, creds [][]byte) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, _ := netip.ParseAddr(addr) // invalid: matches no list
	ip = ip.Unmap()
	if a.deny[domain].has(ip) || a.deny["*"].has(ip) {
		return false, "address denied"
	}
	if (!a.allow[domain].empty() || !a.allow["*"].empty()) &&
		!a.allow[domain].has(ip) && !a.allow["*"].has(ip) {
		return false, "address not allowed"
	}
	switch mech {
	case "NULL":
		return true, ""
	case "PLAIN":
		if len(creds) != 2 {
			return false, "malformed PLAIN credentials"
		}
		for _, d := range []string{domain, "*"} {
			if pw, ok := a.plain[d][string(creds[0])]; ok && pw == string(creds[1]) {
				return true, ""
			}
		}
		return false, "invalid user or password"
	case "CURVE":
		if len(creds) != 1 || len(creds[0]) != 32 {
			return false, "malformed CURVE credentials"
		}
		key := Z85encode(string(creds[0]))
		for _, d := range []string{domain, "*"} {
			if a.curve[d][CURVE_ALLOW_ANY] || a.curve[d][key] {
				return true, ""
			}
		}
		return false, "unknown public key"
	}
	return false, "unsupported mechanism " + mech
}

func zapReply(id []byte, code, text, user string) [][]byte {
	return [][]byte{[]byte("1.0"), id, []byte(code), []byte(text), []byte(user), {}}
}

// logf logs a decision when pebbe's AuthSetVerbose asked for it; zmqguard
// prints nothing otherwise.
func (a *Authenticator) logf(format string, args ...any) {
	a.mu.Lock()
	verbose := a.verbose
	a.mu.Unlock()
	if verbose {
		log.Printf(format, args...)
	}
}

// The policy behind pebbe/zmq4's package-level Auth* functions (the
// compatibility names in api_gen.go): one Authenticator for the default
// context, which exists before AuthStart so that policy can be set first,
// as pebbe allows.
var compat struct {
	once sync.Once
	auth *Authenticator
}

func compatAuth() *Authenticator {
	compat.once.Do(func() { compat.auth = newAuthenticator() })
	return compat.auth
}

// compatAuthStart serves compatAuth on the default context.
func compatAuthStart() error {
	c, err := defaultContext()
	if err != nil {
		return err
	}
	return c.serveAuth(compatAuth())
}

// compatAuthVerbose is pebbe's AuthSetVerbose.
func compatAuthVerbose(verbose bool) {
	a := compatAuth()
	a.mu.Lock()
	a.verbose = verbose
	a.mu.Unlock()
}

// compatMetadata adapts pebbe's metadata handler to SetMetadata.
func compatMetadata(handler func(version, requestID, domain, address, identity, mechanism string, credentials ...string) map[string]string) {
	if handler == nil {
		compatAuth().SetMetadata(nil)
		return
	}
	compatAuth().SetMetadata(func(p Peer) map[string]string {
		return handler("1.0", "", p.Domain, p.Address, p.RoutingID, p.Mechanism, p.User)
	})
}
