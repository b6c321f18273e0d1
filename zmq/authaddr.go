package zmq

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidAddress is returned by Authenticator.Allow and Deny for an
// entry that is neither an IP address nor a CIDR prefix.
var ErrInvalidAddress = errors.New("zmq: invalid address")

// addrSet is a set of IP addresses and prefixes. The nil set is empty.
type addrSet struct {
	addrs    map[netip.Addr]bool
	prefixes []netip.Prefix
}

// add adds an IP address or a CIDR prefix. IPv4-mapped IPv6 addresses are
// kept as IPv4, as libzmq reports IPv4 peers.
func (s *addrSet) add(entry string) error {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fmt.Errorf("%w %q: %v", ErrInvalidAddress, entry, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		s.prefixes = append(s.prefixes, p.Masked())
		return nil
	}
	ip, err := netip.ParseAddr(entry)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidAddress, entry, err)
	}
	if s.addrs == nil {
		s.addrs = map[netip.Addr]bool{}
	}
	s.addrs[ip.Unmap()] = true
	return nil
}

// merge adds every entry of o.
func (s *addrSet) merge(o *addrSet) {
	for ip := range o.addrs {
		if s.addrs == nil {
			s.addrs = map[netip.Addr]bool{}
		}
		s.addrs[ip] = true
	}
	s.prefixes = append(s.prefixes, o.prefixes...)
}

func (s *addrSet) empty() bool { return s == nil || (len(s.addrs) == 0 && len(s.prefixes) == 0) }

// has reports whether ip is in the set; an invalid ip is in none.
func (s *addrSet) has(ip netip.Addr) bool {
	if s == nil || !ip.IsValid() {
		return false
	}
	if s.addrs[ip] {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
