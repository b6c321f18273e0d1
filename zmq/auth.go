package zmq

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// zapEndpoint is where libzmq sends a context's ZAP requests (RFC 27).
const zapEndpoint = "inproc://zeromq.zap.01"

// CurveAllowAny, given to Authenticator.AllowCurve, admits every client
// that completes the CURVE handshake (it knows the server's public key)
// without checking its own key.
const CurveAllowAny = "*"

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
// CurveAllowAny. The domain "*" applies to every domain.
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

	sock *Socket
	done chan struct{}
}

// StartAuth starts an Authenticator for the context's sockets. Set its
// policy before peers connect: until then it admits only NULL peers.
func (c *Context) StartAuth() (*Authenticator, error) {
	c.mu.Lock()
	running := c.auth != nil
	c.mu.Unlock()
	if running {
		return nil, ErrAuthRunning
	}
	s, err := c.NewSocket(REP)
	if err != nil {
		return nil, err
	}
	s.internal = true
	if err := s.SetLinger(0); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Bind(zapEndpoint); err != nil {
		s.Close()
		if errors.Is(err, EADDRINUSE) {
			return nil, ErrAuthRunning
		}
		return nil, err
	}
	a := &Authenticator{
		allow: map[string]*addrSet{}, deny: map[string]*addrSet{},
		plain: map[string]map[string]string{}, curve: map[string]map[string]bool{},
		sock: s, done: make(chan struct{}),
	}
	c.mu.Lock()
	c.auth = a
	c.mu.Unlock()
	go a.serve()
	return a, nil
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
// NewCurveKeypair returns them), or any client with CurveAllowAny, on
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

// RevokeCurve stops admitting these CURVE public keys on the domain. A
// connection already admitted stays.
func (a *Authenticator) RevokeCurve(domain string, publicKeys ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range publicKeys {
		delete(a.curve[domain], k)
	}
}

// Stop stops the handler and waits for it. Peers of the context's secured
// sockets are then refused by libzmq. Stop is idempotent.
func (a *Authenticator) Stop() error {
	err := a.sock.Close()
	<-a.done
	c := a.sock.ctx
	c.mu.Lock()
	if c.auth == a {
		c.auth = nil
	}
	c.mu.Unlock()
	return err
}

// serve answers ZAP requests until the socket is closed.
func (a *Authenticator) serve() {
	defer close(a.done)
	for {
		req, err := a.sock.RecvMessageBytes(0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a malformed exchange: wait for the next request
		}
		if _, err := a.sock.SendMessage(a.answer(req)); err != nil && errors.Is(err, net.ErrClosed) {
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
		return zapReply(id, "400", why, "")
	}
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
			if a.curve[d][CurveAllowAny] || a.curve[d][key] {
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
