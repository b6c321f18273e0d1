package dnstest

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Server is an authoritative DNS server on 127.0.0.1 for the names a test
// sets. Names are absolute (a final dot is added). Unknown names get
// NXDOMAIN; Fail makes every answer SERVFAIL.
type Server struct {
	udp, tcp *dns.Server
	addr     string

	mu    sync.Mutex
	addr4 map[string][]netip.Addr
	srv   map[string][]*dns.SRV
	fail  bool

	queries atomic.Int64
}

// TTL of every record: 0, so that no cache in between keeps an old set.
const ttl = 0

// Start starts a server on a free loopback port (the same for UDP and
// TCP).
func Start() (*Server, error) {
	s := &Server{addr4: map[string][]netip.Addr{}, srv: map[string][]*dns.SRV{}}
	pc, l, err := listenPair()
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	started := make(chan struct{}, 2)
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}
	s.tcp = &dns.Server{Listener: l, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}
	errc := make(chan error, 2)
	go func() { errc <- s.udp.ActivateAndServe() }()
	go func() { errc <- s.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// listenPair listens on one free loopback port for both UDP and TCP: a
// port free for UDP may be taken for TCP, so it tries a few.
func listenPair() (net.PacketConn, net.Listener, error) {
	var err error
	for range 20 {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		var l net.Listener
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
	}
	return nil, nil, err
}

// Addr is the server's address (host:port), for discovery.WithDNSServer
// or a dns://ADDR/name target.
func (s *Server) Addr() string { return s.addr }

// Queries is how many queries the server answered.
func (s *Server) Queries() int64 { return s.queries.Load() }

// SetAddrs replaces the A and AAAA records of name.
func (s *Server) SetAddrs(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A copy: the caller may reuse its slice while queries read this one.
	s.addr4[dns.Fqdn(strings.ToLower(name))] = slices.Clone(addrs)
}

// SetSRV replaces the SRV records of name with one per target, each
// "host:port".
func (s *Server) SetSRV(name string, targets ...string) error {
	var rrs []*dns.SRV
	fq := dns.Fqdn(strings.ToLower(name))
	for _, t := range targets {
		host, port, err := net.SplitHostPort(t)
		if err != nil {
			return err
		}
		p, err := net.LookupPort("tcp", port)
		if err != nil {
			return err
		}
		rrs = append(rrs, &dns.SRV{Hdr: dns.RR_Header{Name: fq, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
			Priority: 10, Weight: 10, Port: uint16(p), Target: dns.Fqdn(host)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[fq] = rrs
	return nil
}

// Fail makes the server answer SERVFAIL to everything while on.
func (s *Server) Fail(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = on
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail || len(req.Question) != 1 {
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	addrs, okA := s.addr4[name]
	srvs, okS := s.srv[name]
	if !okA && !okS {
		m.Rcode = dns.RcodeNameError
		_ = w.WriteMsg(m)
		return
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	switch q.Qtype {
	case dns.TypeA:
		for _, a := range addrs {
			if a.Is4() {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
			}
		}
	case dns.TypeAAAA:
		for _, a := range addrs {
			if a.Is6() {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
			}
		}
	case dns.TypeSRV:
		for _, r := range srvs {
			m.Answer = append(m.Answer, r)
		}
	}
	_ = w.WriteMsg(m)
}

// Close stops the server and waits for its goroutines.
func (s *Server) Close() error {
	var errs []error
	if s.udp != nil {
		errs = append(errs, s.udp.Shutdown())
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.Shutdown())
	}
	return errors.Join(errs...)
}
