package zmq

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrInvalidEndpoint is matched by the error of a Bind, Connect, Unbind or
// Disconnect whose endpoint zmqguard refused before libzmq saw it (see
// EndpointError). libzmq accepts some malformed endpoints and does
// something else with them: tcp://127.0.0.1:99999 binds port 34463,
// tcp://256.1.1.1:5555 only fails when a message is sent.
var ErrInvalidEndpoint = errors.New("zmq: invalid endpoint")

// EndpointError is the error of Bind, Connect, Unbind and Disconnect, in
// the manner of net.OpError: it names the operation and the endpoint, and
// wraps the cause, an Errno from libzmq or ErrInvalidEndpoint.
type EndpointError struct {
	Op       string // "bind", "connect", "unbind" or "disconnect"
	Endpoint string
	Err      error
}

// Error names the operation, the endpoint and the cause.
func (e *EndpointError) Error() string {
	return "zmq: " + e.Op + " " + strconv.Quote(e.Endpoint) + ": " + strings.TrimPrefix(e.Err.Error(), "zmq: ")
}

// Unwrap returns the cause.
func (e *EndpointError) Unwrap() error { return e.Err }

// endpointErr wraps err from op on endpoint; nil stays nil.
func endpointErr(op, endpoint string, err error) error {
	if err == nil {
		return nil
	}
	return &EndpointError{Op: op, Endpoint: endpoint, Err: err}
}

// checkEndpoint refuses what libzmq would misread. It checks the form only;
// libzmq still resolves names and reports what it cannot use. bind is true
// for Bind, where wildcards are allowed.
func checkEndpoint(endpoint string, bind bool) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidEndpoint}, a...)...)
	}
	if strings.IndexByte(endpoint, 0) >= 0 {
		return bad("contains a NUL byte")
	}
	transport, addr, ok := strings.Cut(endpoint, "://")
	if !ok || transport == "" {
		return bad("want transport://address")
	}
	if addr == "" {
		return bad("no address")
	}
	switch transport {
	case "tcp", "ws", "wss", "udp":
		// Connect may name a source: "tcp://src;dst".
		if i := strings.LastIndexByte(addr, ';'); i >= 0 && !bind {
			if err := checkHostPort(addr[:i], true); err != nil {
				return bad("source: %v", err)
			}
			addr = addr[i+1:]
		}
		if transport == "ws" || transport == "wss" {
			addr, _, _ = strings.Cut(addr, "/")
		}
		if err := checkHostPort(addr, bind); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// checkHostPort checks host:port. The port must be a number from 1 to
// 65535, or, where wildcards are allowed, "*", "!" or 0. A host written
// as numbers and dots must be an IPv4 address.
func checkHostPort(hp string, wildcard bool) error {
	i := strings.LastIndexByte(hp, ':')
	if i < 0 {
		return errors.New("no port")
	}
	host, port := hp[:i], hp[i+1:]
	switch {
	case port == "*" || port == "!":
		if !wildcard {
			return fmt.Errorf("port %q only binds", port)
		}
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 || (n == 0 && !wildcard) {
			return fmt.Errorf("port %q is not 1-65535", port)
		}
	}
	if host == "" {
		return errors.New("no host")
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return fmt.Errorf("host %q: unclosed [", host)
		}
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil {
			return fmt.Errorf("host %q is not an IPv6 address", host)
		}
		return nil
	}
	if strings.Trim(host, "0123456789.") == "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("host %q is not an IPv4 address", host)
		}
	}
	return nil
}

// CheckEndpoint refuses, as Bind (op "bind") or Connect (any other op)
// would, an endpoint that zmqguard knows libzmq would misread, without a
// socket: a port outside 1-65535 (0, "*" and "!" only bind), a host of
// numbers and dots that is not an IPv4 address, a NUL byte, a missing
// transport or address. It returns nil or an *EndpointError matching
// ErrInvalidEndpoint. Like Bind and Connect it checks the form only: a
// name that does not resolve is still libzmq's to report.
func CheckEndpoint(op, endpoint string) error {
	return endpointErr(op, endpoint, checkEndpoint(endpoint, op == "bind"))
}
