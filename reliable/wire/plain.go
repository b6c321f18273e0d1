package wire

import "bytes"

// ClientRoutingIDPrefix begins the routing id (ZMQ_ROUTING_ID) of every
// plain-mode socket of a zmqguard client (docs/PROTOCOL.md section 6). A
// plain request carries no ID frame, so the routing id is how a server,
// worker or queue tells a zmqguard client, which takes error replies as
// [PlainErrorMarker, code, message], from a zguide peer, which would
// take them for its answer. Any plain client may opt in to error replies
// by choosing a routing id that starts with it.
const ClientRoutingIDPrefix = "zmqguard"

// ClientRoutingIDLen is the length of a routing id made by
// ClientRoutingID.
const ClientRoutingIDLen = len(ClientRoutingIDPrefix) + 1 + 16 + 1 + 8

// ClientRoutingID returns the routing id of socket number n of the
// zmqguard client whose random id is client: the prefix, then client and
// n in hexadecimal, "zmqguard-0123456789abcdef-00000001". It is printable
// and has no NUL byte (some bindings read routing ids as C strings). Each
// socket of a client has an id of its own (a ROUTER ignores a second
// connection with an id it still knows), and all of them name the same
// client (ParseClientRoutingID).
func ClientRoutingID(client uint64, n uint32) []byte {
	b := make([]byte, 0, ClientRoutingIDLen)
	b = append(b, ClientRoutingIDPrefix+"-"...)
	b = appendHex(b, client, 16)
	b = append(b, '-')
	return appendHex(b, uint64(n), 8)
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[v>>(4*uint(i))&0xf])
	}
	return b
}

// ParseClientRoutingID returns the client id in a routing id made by
// ClientRoutingID; ok is false for any other frame.
func ParseClientRoutingID(b []byte) (client uint64, ok bool) {
	p := len(ClientRoutingIDPrefix)
	if len(b) != ClientRoutingIDLen || !bytes.HasPrefix(b, []byte(ClientRoutingIDPrefix)) ||
		b[p] != '-' || b[p+17] != '-' {
		return 0, false
	}
	for _, c := range b[p+1 : p+17] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		client = client<<4 | uint64(d)
	}
	return client, true
}

// TakesPlainErrors reports whether the client of a plain request (one
// whose envelope env does not end with a valid ID frame) takes error
// replies in the plain form: env's last frame, the client's own routing
// id as the first ROUTER on its way saw it, starts with
// ClientRoutingIDPrefix, or is meant as an ID frame (it starts with the
// ID frame's magic; a client of another version of this protocol). Any
// other plain client speaks only the zguide protocol: it would take an
// error reply for the answer to its request (zguide's lpclient
// crashes on it), so it gets none (Reply returns nil) and retries as
// after a lost reply.
func TakesPlainErrors(env [][]byte) bool {
	if len(env) == 0 {
		return false
	}
	last := env[len(env)-1]
	isID, _ := classifyIDFrame(last)
	return isID || bytes.HasPrefix(last, []byte(ClientRoutingIDPrefix))
}
