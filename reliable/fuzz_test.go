package reliable

import (
	"errors"
	"testing"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// The correlated client's reply dispatch takes bytes from the network
// apart, so it is fuzzed; the wire protocol's parsers are fuzzed in package
// reliable/wire. Seeds are in testdata/fuzz/<FuzzName>/ and f.Add below;
// `make fuzz` runs each target for FUZZTIME.

// splitFrames turns fuzz bytes into a multipart message: each frame is a
// length byte followed by up to that many bytes. The number of frames is
// bounded by len(data)+1, so the fuzzer explores envelopes of any shape.
func splitFrames(data []byte) [][]byte {
	var msg [][]byte
	for len(data) > 0 {
		n := int(data[0])
		data = data[1:]
		if n > len(data) {
			n = len(data)
		}
		msg = append(msg, data[:n])
		data = data[n:]
	}
	return msg
}

// joinFrames is splitFrames' inverse for frames shorter than 256 bytes.
func joinFrames(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, byte(len(f)))
		out = append(out, f...)
	}
	return out
}

// FuzzClientDispatch feeds arbitrary replies to a correlated client's
// dispatcher with one request pending: only a well-formed reply for the
// exact client, seq, attempt and endpoint may reach it, and it must carry
// exactly the frames after the delimiter, and one without a body frame
// carries a malformed error (it must never become a successful reply).
func FuzzClientDispatch(f *testing.F) {
	const clientID, seq, attempt = 0x0102030405060708, 42, 3
	good := wire.RequestID{Client: clientID, Seq: seq, Attempt: attempt}
	f.Add(joinFrames(good.AppendFrame(nil, wire.KindReply), nil, []byte("hi")))
	f.Add(joinFrames(good.AppendFrame(nil, wire.KindError), nil, []byte(wire.CodeHandler), []byte("boom")))
	f.Add(joinFrames(good.AppendFrame(nil, wire.KindRequest), nil, []byte("echo")))
	f.Add(joinFrames(wire.RequestID{Client: clientID, Seq: seq, Attempt: 2}.AppendFrame(nil, wire.KindReply), nil, []byte("late")))
	f.Add(joinFrames(wire.RequestID{Client: 9, Seq: seq, Attempt: attempt}.AppendFrame(nil, wire.KindReply), nil))
	f.Add(joinFrames(good.AppendFrame(nil, wire.KindReply), []byte("x"), []byte("y")))
	f.Add(joinFrames(good.AppendFrame(nil, wire.KindReply)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := splitFrames(data)
		ep := &endpoint{addr: "fuzz"}
		c := &Client{clientID: clientID}
		cl := &call{seq: seq, attempt: attempt, ep: ep, replies: make(chan reply, 1)}
		c.pending.add(cl)
		c.dispatch(ep, msg, nil)
		// A second copy is always a duplicate and must not block.
		c.dispatch(ep, msg, nil)
		st := c.counters.snapshot()
		select {
		case r := <-cl.replies:
			id, kind, err := wire.ParseIDFrame(msg[0])
			if err != nil || id != good || len(msg[1]) != 0 {
				t.Fatalf("delivered %x: %v %v", msg[0], id, err)
			}
			if r.kind != kind || len(r.body) != len(msg)-2 {
				t.Fatalf("delivered kind %q body %d of %d frames", r.kind, len(r.body), len(msg))
			}
			// A reply without a body frame is never a success.
			if (len(r.body) == 0) != errors.Is(r.err, wire.ErrMalformed) {
				t.Fatalf("body of %d frames delivered with error %v", len(r.body), r.err)
			}
			if kind == wire.KindError {
				_, _, err := wire.ParseErrorBody(r.body)
				if (err == nil) != (len(r.body) == 2) {
					t.Fatalf("error body of %d frames: %v", len(r.body), err)
				}
			}
		default:
			if len(msg) >= 2 && len(msg[1]) == 0 {
				if id, _, err := wire.ParseIDFrame(msg[0]); err == nil && id == good {
					t.Fatal("a matching reply was not delivered")
				}
			}
		}
		if got := st.StaleDropped + st.Malformed; got == 0 {
			t.Fatalf("no drop counted for a duplicate: %+v", st)
		}
	})
}
