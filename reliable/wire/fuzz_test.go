package wire

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

// Fuzz targets for every function that takes bytes from the network apart:
// the ID frame, error bodies and the server's ROUTER envelope splitting.
// Each asserts that no input panics and that what comes out is bounded by
// what went in (no allocation that the input does not pay for). Seeds are
// in testdata/fuzz/<FuzzName>/ and f.Add below; `make fuzz` runs each
// target for FUZZTIME. (The correlated client's reply dispatch is fuzzed in
// package reliable.)

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

// sampleAllocs says whether this input's allocations are measured:
// testing.AllocsPerRun stops the world, so measuring every input would cut
// the fuzzer's speed a hundredfold. One input in 32 (and every seed) is.
func sampleAllocs() bool { return allocSample.Add(1)%32 == 1 }

var allocSample atomic.Uint64

func seedID(kind Kind) []byte {
	return RequestID{Client: 0x0102030405060708, Seq: 42, Attempt: 3}.AppendFrame(nil, kind)
}

func FuzzParseIDFrame(f *testing.F) {
	f.Add(seedID(KindRequest))
	f.Add(seedID(KindReply))
	f.Add(seedID(KindError))
	f.Add([]byte("ZG\x01X0123456789abcdefghij"))
	f.Add([]byte("ZG\x02Q0123456789abcdefghij"))
	f.Add([]byte("ZG\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		id, kind, err := ParseIDFrame(b)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseIDFrame modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			if id != (RequestID{}) || kind != 0 {
				t.Fatalf("error with a non-zero result: %v %q", id, kind)
			}
			// The message quotes at most a couple of input bytes.
			if len(err.Error()) > 200 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		if !IsIDFrame(b) {
			t.Fatal("parsed, but IsIDFrame is false")
		}
		// Round trip: encoding the parsed id gives the same bytes back.
		if out := id.AppendFrame(nil, kind); !bytes.Equal(out, b) {
			t.Fatalf("round trip: got %x, want %x", out, b)
		}
		id2, kind2, err := ParseIDFrame(id.AppendFrame(make([]byte, 0, IDFrameLen), kind))
		if err != nil || id2 != id || kind2 != kind {
			t.Fatalf("re-parse: %v %q %v", id2, kind2, err)
		}
		if sampleAllocs() && testing.AllocsPerRun(10, func() { _, _, _ = ParseIDFrame(b) }) != 0 {
			t.Fatal("ParseIDFrame of a valid frame allocates")
		}
	})
}

// FuzzIDFrameRoundTrip encodes arbitrary ids and kinds and parses them back.
func FuzzIDFrameRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0), uint32(0), byte(KindRequest))
	f.Add(^uint64(0), ^uint64(0), ^uint32(0), byte(KindError))
	f.Add(uint64(1), uint64(2), uint32(3), byte('x'))
	f.Fuzz(func(t *testing.T, client, seq uint64, attempt uint32, kind byte) {
		id := RequestID{Client: client, Seq: seq, Attempt: attempt}
		b := id.AppendFrame(nil, Kind(kind))
		if len(b) != IDFrameLen || !IsIDFrame(b) {
			t.Fatalf("AppendFrame: %x", b)
		}
		got, k, err := ParseIDFrame(b)
		switch Kind(kind) {
		case KindRequest, KindReply, KindError:
			if err != nil || got != id || k != Kind(kind) {
				t.Fatalf("round trip: %v %q %v, want %v", got, k, err, id)
			}
		default:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("kind %q accepted: %v", kind, err)
			}
		}
	})
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add(joinFrames([]byte(CodeHandler), []byte("boom")))
	f.Add(joinFrames([]byte(CodePanic), []byte("runtime error: index out of range")))
	f.Add(joinFrames([]byte("x")))
	f.Add(joinFrames([]byte("a"), []byte("b"), []byte("c")))
	f.Add(joinFrames([]byte{}, []byte{}))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 600))
	f.Fuzz(func(t *testing.T, data []byte) {
		body := splitFrames(data)
		// Also exercise texts longer than MaxErrorText (frames from
		// splitFrames are at most 255 bytes).
		if len(body) == 2 && len(body[1]) > 0 && data[len(data)-1]&1 == 1 {
			body[1] = bytes.Repeat(body[1], MaxErrorText/len(body[1])+2)
		}
		code, msg, err := ParseErrorBody(body)
		if len(body) != 2 {
			if err == nil || !errors.Is(err, ErrMalformed) || code != "" || msg != "" {
				t.Fatalf("%d frames: %q %q %v", len(body), code, msg, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("two frames refused: %v", err)
		}
		if len(code) > MaxErrorText || len(msg) > MaxErrorText {
			t.Fatalf("texts not clipped: %d, %d bytes", len(code), len(msg))
		}
		if code != string(body[0][:min(len(body[0]), MaxErrorText)]) ||
			msg != string(body[1][:min(len(body[1]), MaxErrorText)]) {
			t.Fatalf("texts changed: %q %q", code, msg)
		}
		// Encoding clips the same way: a parsed body encodes to itself.
		enc := EncodeErrorBody(code, msg)
		if string(enc[0]) != code || string(enc[1]) != msg {
			t.Fatalf("re-encoded: %q %q", enc[0], enc[1])
		}
		// Allocation is bounded: the two clipped strings, whatever the
		// input size.
		if !sampleAllocs() {
			return
		}
		if allocs := testing.AllocsPerRun(10, func() { _, _, _ = ParseErrorBody(body) }); allocs > 2 {
			t.Fatalf("ParseErrorBody allocates %v times", allocs)
		}
	})
}

// FuzzParseRouterMessage takes ROUTER messages apart and frames the reply
// the server would send, checking the invariants the server relies on.
func FuzzParseRouterMessage(f *testing.F) {
	rid := []byte{0, 0x80, 0, 0x41, 0xa7}
	f.Add(joinFrames(rid, seedID(KindRequest), nil, []byte("hello")))
	f.Add(joinFrames(rid, seedID(KindReply), nil, []byte("hello")))
	f.Add(joinFrames(rid, []byte("ZG\x01"), nil, []byte("x")))
	f.Add(joinFrames(rid, []byte("ZG\x01Q"), nil))
	f.Add(joinFrames(rid, nil, []byte("plain"), []byte("two")))
	f.Add(joinFrames(rid, []byte("hop"), []byte{1, 2, 3, 4}, nil, []byte("corr")))
	f.Add(joinFrames(rid, []byte("no delimiter")))
	f.Add(joinFrames(rid))
	f.Add(append(joinFrames(rid), bytes.Repeat([]byte{1, 'h'}, 40)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := splitFrames(data)
		orig := make([][]byte, len(msg))
		for i := range msg {
			orig[i] = bytes.Clone(msg[i])
		}
		in, ok := ParseRouterMessage(msg)
		for i := range msg {
			if !bytes.Equal(msg[i], orig[i]) {
				t.Fatalf("frame %d modified", i)
			}
		}
		if len(msg) < 2 {
			if ok {
				t.Fatalf("%d frames answerable", len(msg))
			}
			return
		}
		if !ok {
			t.Fatal("a message with a routing id is not answerable")
		}
		if len(in.Envelope) == 0 || !bytes.Equal(in.Envelope[0], msg[0]) {
			t.Fatal("the envelope does not start with the routing id")
		}
		if len(in.Envelope) > MaxEnvelopeFrames {
			t.Fatalf("envelope of %d frames", len(in.Envelope))
		}
		if len(in.Envelope)+len(in.Body) > len(msg) {
			t.Fatalf("%d+%d frames out of %d", len(in.Envelope), len(in.Body), len(msg))
		}
		if in.Correlated {
			if in.Malformed != "" || !in.IDForm {
				t.Fatalf("correlated with malformed=%q idForm=%v", in.Malformed, in.IDForm)
			}
			last := in.Envelope[len(in.Envelope)-1]
			id, kind, err := ParseIDFrame(last)
			if err != nil || kind != KindRequest || id != in.ID {
				t.Fatalf("correlated id %v from %x: %v %q %v", in.ID, last, id, kind, err)
			}
		}
		if in.Malformed == "" && len(in.Body) == 0 {
			t.Fatal("accepted without a body")
		}
		if in.IDForm && !IsIDFrame(in.Envelope[len(in.Envelope)-1]) {
			t.Fatal("IDForm without an ID frame")
		}
		// Frame both replies the server could send; each has one frame
		// per input frame at most, plus delimiter and marker, and the
		// request's frames are left alone.
		kind, body := KindReply, in.Body
		if len(body) == 0 {
			body = [][]byte{{}}
		}
		if in.Malformed != "" {
			kind, body = KindError, EncodeErrorBody(CodeMalformed, in.Malformed)
		}
		out := Reply(in.Envelope, in.IDForm, kind, body)
		if kind == KindError && !in.IDForm && !TakesPlainErrors(in.Envelope) {
			if out != nil {
				t.Fatalf("an error reply to a plain client that does not take them: %q", out)
			}
			return
		}
		if len(out) != len(in.Envelope)+1+len(body)+map[bool]int{true: 1}[kind == KindError && !in.IDForm] {
			t.Fatalf("reply of %d frames for envelope %d body %d", len(out), len(in.Envelope), len(body))
		}
		if len(out[len(in.Envelope)]) != 0 {
			t.Fatal("no delimiter after the envelope")
		}
		if in.IDForm {
			id := out[len(in.Envelope)-1]
			if !IsIDFrame(id) || Kind(id[offKind]) != kind {
				t.Fatalf("reply ID frame %x", id)
			}
		}
		for i := range msg {
			if !bytes.Equal(msg[i], orig[i]) {
				t.Fatalf("frame %d modified by Reply", i)
			}
		}
	})
}
