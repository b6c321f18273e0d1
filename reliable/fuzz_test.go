package reliable

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

// Fuzz targets for every function that takes bytes from the network apart:
// the ID frame, error bodies, the server's ROUTER envelope splitting and the
// correlated client's reply dispatch. Each asserts that no input panics and
// that what comes out is bounded by what went in (no allocation that the
// input does not pay for). Seeds are in testdata/fuzz/<FuzzName>/ and
// f.Add below; `make fuzz` runs each target for FUZZTIME.

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
		id2, kind2, err := ParseIDFrame(id.AppendFrame(make([]byte, 0, idFrameLen), kind))
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
		if len(b) != idFrameLen || !IsIDFrame(b) {
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
		// Also exercise texts longer than maxErrorText (frames from
		// splitFrames are at most 255 bytes).
		if len(body) == 2 && len(body[1]) > 0 && data[len(data)-1]&1 == 1 {
			body[1] = bytes.Repeat(body[1], maxErrorText/len(body[1])+2)
		}
		re, err := ParseErrorBody(body)
		if len(body) != 2 {
			if err == nil || !errors.Is(err, ErrMalformed) || re != nil {
				t.Fatalf("%d frames: %v %v", len(body), re, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("two frames refused: %v", err)
		}
		if len(re.Code) > maxErrorText || len(re.Message) > maxErrorText {
			t.Fatalf("texts not clipped: %d, %d bytes", len(re.Code), len(re.Message))
		}
		if re.Code != string(body[0][:min(len(body[0]), maxErrorText)]) ||
			re.Message != string(body[1][:min(len(body[1]), maxErrorText)]) {
			t.Fatalf("texts changed: %q %q", re.Code, re.Message)
		}
		_ = re.Error()
		// Allocation is bounded: the error value and its two clipped
		// strings, whatever the input size.
		if !sampleAllocs() {
			return
		}
		if allocs := testing.AllocsPerRun(10, func() { _, _ = ParseErrorBody(body) }); allocs > 3 {
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
		in, ok := parseRouterMessage(msg)
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
		if len(in.env) == 0 || !bytes.Equal(in.env[0], msg[0]) {
			t.Fatal("the envelope does not start with the routing id")
		}
		if len(in.env) > maxEnvelopeFrames {
			t.Fatalf("envelope of %d frames", len(in.env))
		}
		if len(in.env)+len(in.body) > len(msg) {
			t.Fatalf("%d+%d frames out of %d", len(in.env), len(in.body), len(msg))
		}
		if in.proto {
			if in.bad != "" || !in.idForm {
				t.Fatalf("proto with bad=%q idForm=%v", in.bad, in.idForm)
			}
			last := in.env[len(in.env)-1]
			id, kind, err := ParseIDFrame(last)
			if err != nil || kind != KindRequest || id != in.id {
				t.Fatalf("proto id %v from %x: %v %q %v", in.id, last, id, kind, err)
			}
		}
		if in.bad == "" && len(in.body) == 0 {
			t.Fatal("accepted without a body")
		}
		if in.idForm && !IsIDFrame(in.env[len(in.env)-1]) {
			t.Fatal("idForm without an ID frame")
		}
		// Frame both replies the server could send; each has one frame
		// per input frame at most, plus delimiter and marker, and the
		// request's frames are left alone.
		kind, body := KindReply, nonEmpty(in.body)
		if in.bad != "" {
			kind, body = KindError, errorBody(CodeMalformed, in.bad)
		}
		out := replyFrames(in.env, in.idForm, kind, body)
		if len(out) != len(in.env)+1+len(body)+map[bool]int{true: 1}[kind == KindError && !in.idForm] {
			t.Fatalf("reply of %d frames for envelope %d body %d", len(out), len(in.env), len(body))
		}
		if len(out[len(in.env)]) != 0 {
			t.Fatal("no delimiter after the envelope")
		}
		if in.idForm {
			id := out[len(in.env)-1]
			if !IsIDFrame(id) || Kind(id[offKind]) != kind {
				t.Fatalf("reply ID frame %x", id)
			}
		}
		for i := range msg {
			if !bytes.Equal(msg[i], orig[i]) {
				t.Fatalf("frame %d modified by replyFrames", i)
			}
		}
	})
}

// FuzzClientDispatch feeds arbitrary replies to a correlated client's
// dispatcher with one request pending: only a well-formed reply for the
// exact client, seq, attempt and endpoint may reach it, and it must carry
// exactly the frames after the delimiter.
func FuzzClientDispatch(f *testing.F) {
	const clientID, seq, attempt = 0x0102030405060708, 42, 3
	good := RequestID{Client: clientID, Seq: seq, Attempt: attempt}
	f.Add(joinFrames(good.AppendFrame(nil, KindReply), nil, []byte("hi")))
	f.Add(joinFrames(good.AppendFrame(nil, KindError), nil, []byte(CodeHandler), []byte("boom")))
	f.Add(joinFrames(good.AppendFrame(nil, KindRequest), nil, []byte("echo")))
	f.Add(joinFrames(RequestID{Client: clientID, Seq: seq, Attempt: 2}.AppendFrame(nil, KindReply), nil, []byte("late")))
	f.Add(joinFrames(RequestID{Client: 9, Seq: seq, Attempt: attempt}.AppendFrame(nil, KindReply), nil))
	f.Add(joinFrames(good.AppendFrame(nil, KindReply), []byte("x"), []byte("y")))
	f.Add(joinFrames(good.AppendFrame(nil, KindReply)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := splitFrames(data)
		ep := &endpoint{addr: "fuzz"}
		c := &Client{clientID: clientID, pending: map[uint64]*call{}}
		cl := &call{seq: seq, attempt: attempt, ep: ep, replies: make(chan reply, 1)}
		c.pending[seq] = cl
		c.dispatch(ep, msg)
		// A second copy is always a duplicate and must not block.
		c.dispatch(ep, msg)
		st := c.counters.snapshot()
		select {
		case r := <-cl.replies:
			id, kind, err := ParseIDFrame(msg[0])
			if err != nil || id != good || len(msg[1]) != 0 {
				t.Fatalf("delivered %x: %v %v", msg[0], id, err)
			}
			if r.kind != kind || len(r.body) != len(msg)-2 {
				t.Fatalf("delivered kind %q body %d of %d frames", r.kind, len(r.body), len(msg))
			}
			if kind == KindError {
				re, err := ParseErrorBody(r.body)
				if (err == nil) != (len(r.body) == 2) || (err == nil && re == nil) {
					t.Fatalf("error body: %v %v", re, err)
				}
			}
		default:
			if len(msg) >= 2 && len(msg[1]) == 0 {
				if id, _, err := ParseIDFrame(msg[0]); err == nil && id == good {
					t.Fatal("a matching reply was not delivered")
				}
			}
		}
		if got := st.StaleDropped + st.Malformed; got == 0 {
			t.Fatalf("no drop counted for a duplicate: %+v", st)
		}
	})
}
