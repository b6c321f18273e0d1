package wire

import (
	"encoding/binary"
	"fmt"
)

// IDFrameLen is the length of an ID frame, in bytes.
const IDFrameLen = 24

// ID frame layout (docs/PROTOCOL.md section 4).
const (
	idMagic0   = 'Z'
	idMagic1   = 'G'
	idVersion  = 1
	offKind    = 3
	offClient  = 4
	offSeq     = 12
	offAttempt = 20
)

// Kind is the kind byte of an ID frame.
type Kind byte

const (
	// KindRequest marks a request, and a reply from a server that echoed
	// the envelope without understanding it (any REP or ROUTER echo).
	KindRequest Kind = 'Q'
	// KindReply marks a successful reply from a zmqguard server.
	KindReply Kind = 'R'
	// KindError marks an error reply from a zmqguard server; the body is
	// [code, message] (see EncodeErrorBody).
	KindError Kind = 'E'
)

// RequestID identifies one attempt of one request. Client is random per
// client; Seq numbers the client's requests; Attempt numbers the tries of
// one request from 1. Servers suppress duplicates by (Client, Seq);
// clients accept a reply only for the (Seq, Attempt) they wait for.
type RequestID struct {
	Client  uint64 // random per client instance
	Seq     uint64 // the client's request number, from 1
	Attempt uint32 // the attempt of this request, from 1
}

// String renders the id for logs: client/seq#attempt in hex/decimal.
func (id RequestID) String() string {
	return fmt.Sprintf("%016x/%d#%d", id.Client, id.Seq, id.Attempt)
}

// Key returns the part of the id that names the request, not the attempt.
func (id RequestID) Key() RequestKey { return RequestKey{id.Client, id.Seq} }

// RequestKey names a request across its attempts.
type RequestKey struct {
	Client uint64 // as in RequestID
	Seq    uint64 // as in RequestID
}

// AppendFrame appends the ID frame for id with the given kind to dst.
func (id RequestID) AppendFrame(dst []byte, kind Kind) []byte {
	dst = append(dst, idMagic0, idMagic1, idVersion, byte(kind))
	dst = binary.BigEndian.AppendUint64(dst, id.Client)
	dst = binary.BigEndian.AppendUint64(dst, id.Seq)
	dst = binary.BigEndian.AppendUint32(dst, id.Attempt)
	return dst
}

// IsIDFrame reports whether b looks like an ID frame (length, magic and
// version), without validating the kind.
func IsIDFrame(b []byte) bool {
	return len(b) == IDFrameLen && b[0] == idMagic0 && b[1] == idMagic1 && b[2] == idVersion
}

// ParseIDFrame decodes an ID frame. Its error matches ErrMalformed.
func ParseIDFrame(b []byte) (RequestID, Kind, error) {
	if len(b) != IDFrameLen {
		return RequestID{}, 0, malformed("ID frame length %d, want %d", len(b), IDFrameLen)
	}
	if b[0] != idMagic0 || b[1] != idMagic1 {
		return RequestID{}, 0, malformed("ID frame magic %q", b[:2])
	}
	if b[2] != idVersion {
		return RequestID{}, 0, malformed("ID frame version %d", b[2])
	}
	k := Kind(b[offKind])
	switch k {
	case KindRequest, KindReply, KindError:
	default:
		return RequestID{}, 0, malformed("ID frame kind %q", byte(k))
	}
	return RequestID{
		Client:  binary.BigEndian.Uint64(b[offClient:]),
		Seq:     binary.BigEndian.Uint64(b[offSeq:]),
		Attempt: binary.BigEndian.Uint32(b[offAttempt:]),
	}, k, nil
}
