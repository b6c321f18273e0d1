package zmq

import (
	"encoding/binary"
	"sort"
)

// Peer is what a ZAP request says about a peer that the Authenticator
// admitted, as given to a metadata function.
type Peer struct {
	Domain    string // the socket's ZAP domain
	Address   string // the peer's IP address
	RoutingID string // the peer's routing id, if any
	Mechanism string // "NULL", "PLAIN" or "CURVE"
	// User is the PLAIN user name, or the CURVE public key in Z85.
	User string
}

// SetMetadata makes the Authenticator attach properties to every message
// from each peer it admits, as pebbe/zmq4's AuthSetMetadataHandler does:
// f returns them for the peer, and a receiver reads them with
// RecvMessageWithMetadata and the others. Names must be 1 to 255 bytes;
// others are dropped. The peer's "User-Id" property is set apart from f:
// the PLAIN user name, or the CURVE public key in Z85. If f panics, the peer is
// refused with status 500 and the Authenticator goes on serving. nil
// removes the function.
func (a *Authenticator) SetMetadata(f func(Peer) map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.meta = f
}

// metadata runs the metadata function for an admitted peer and encodes its
// properties as ZMTP metadata (RFC 23): name length (1 byte), name, value
// length (4 bytes, network order), value; in name order, so that a reply is
// the same for the same properties. ok is false when f panicked.
func (a *Authenticator) metadata(p Peer) (blob []byte, ok bool) {
	a.mu.Lock()
	f := a.meta
	a.mu.Unlock()
	if f == nil {
		return nil, true
	}
	props, ok := callMetadata(f, p)
	if !ok {
		return nil, false
	}
	names := make([]string, 0, len(props))
	for name := range props {
		if len(name) >= 1 && len(name) <= 255 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		value := props[name]
		blob = append(blob, byte(len(name)))
		blob = append(blob, name...)
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(value)))
		blob = append(blob, value...)
	}
	return blob, true
}

// callMetadata calls f, turning a panic into ok == false.
func callMetadata(f func(Peer) map[string]string, p Peer) (props map[string]string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			props, ok = nil, false
		}
	}()
	return f(p), true
}

// metadataFailed is the status text of a peer refused because the
// metadata function panicked.
const metadataFailed = "metadata function failed"
