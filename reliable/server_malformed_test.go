package reliable_test

import (
	"context"
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// rawID builds an ID frame byte by byte, so tests can break it.
func rawID(version byte, kind byte, client, seq uint64, attempt uint32) []byte {
	b := []byte{'Z', 'G', version, kind}
	b = binary.BigEndian.AppendUint64(b, client)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint32(b, attempt)
}

// TestServerMalformedRequests sends bad envelopes from raw DEALER peers
// (a DEALER sends its frames as they are; the ROUTER adds the routing id)
// and checks the exact error reply each gets, then that the server still
// serves.
func TestServerMalformedRequests(t *testing.T) {
	longEnv := make([][]byte, 0, 41)
	for range 40 {
		longEnv = append(longEnv, []byte("hop"))
	}
	longEnv = append(longEnv, []byte{}, []byte("body"))
	goodID := rawID(1, 'Q', 7, 1, 1)
	cases := []struct {
		name string
		send [][]byte
		want [][]byte // the reply, as the DEALER receives it
	}{
		{"NoDelimiter", [][]byte{[]byte("just a body")},
			[][]byte{{}, []byte(wire.PlainErrorMarker), []byte(wire.CodeMalformed), []byte("no empty delimiter frame")}},
		{"NoBodyPlain", [][]byte{{}},
			[][]byte{{}, []byte(wire.PlainErrorMarker), []byte(wire.CodeMalformed), []byte("request has no body frames")}},
		{"NoBodyWithID", [][]byte{goodID, {}},
			[][]byte{rawID(1, 'E', 7, 1, 1), {}, []byte(wire.CodeMalformed), []byte("request has no body frames")}},
		{"IDFrameBadKind", [][]byte{rawID(1, 'X', 7, 2, 1), {}, []byte("body")},
			[][]byte{rawID(1, 'E', 7, 2, 1), {}, []byte(wire.CodeMalformed), []byte(`reliable: malformed message: ID frame kind 'X'`)}},
		{"IDFrameReplyKind", [][]byte{rawID(1, 'R', 7, 3, 1), {}, []byte("body")},
			[][]byte{rawID(1, 'E', 7, 3, 1), {}, []byte(wire.CodeMalformed), []byte(`reliable: malformed message: ID frame kind 'R' in a request`)}},
		{"IDFrameTruncated", [][]byte{goodID[:10], {}, []byte("body")},
			[][]byte{goodID[:10], {}, []byte(wire.PlainErrorMarker), []byte(wire.CodeMalformed), []byte("reliable: malformed message: ID frame length 10, want 24")}},
		{"IDFrameUnknownVersion", [][]byte{rawID(9, 'Q', 7, 4, 1), {}, []byte("body")},
			[][]byte{rawID(9, 'Q', 7, 4, 1), {}, []byte(wire.PlainErrorMarker), []byte(wire.CodeMalformed), []byte("reliable: malformed message: ID frame version 9")}},
		{"EnvelopeTooLong", longEnv,
			[][]byte{{}, []byte(wire.PlainErrorMarker), []byte(wire.CodeMalformed), []byte("envelope of 41 frames")}},
	}
	zctx := zmqtest.Context(t)
	var events []reliable.ServerEvent
	evc := make(chan reliable.ServerEvent, 100)
	var execs counter
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		execs.add(string(req[0]))
		return req, nil
	}, reliable.WithServerEventHook(func(ev reliable.ServerEvent) { evc <- ev }))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A zmqguard client's routing id: a plain-form error reply goes
			// only to a client that takes one (docs/PROTOCOL.md section 6).
			d := zmqtest.Socket(t, zctx, zmq.DEALER)
			require.NoError(t, d.SetIdentity(string(wire.ClientRoutingID(7, uint32(i)))))
			require.NoError(t, d.Connect(s.addr))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := timeout.SendMessage(ctx, d, tc.send)
			require.NoError(t, err)
			got, err := timeout.RecvMessageBytes(ctx, d)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			ev := <-evc
			events = append(events, ev)
			assert.Equal(t, reliable.ServerEventMalformed, ev.Kind)
			assert.Equal(t, wire.CodeMalformed, ev.Code)
		})
	}
	// A peer that does not identify as zmqguard gets no plain-form error
	// reply, malformed or not: it would take it for its answer.
	t.Run("NoDelimiterZguidePeer", func(t *testing.T) {
		d := zmqtest.Socket(t, zctx, zmq.DEALER)
		require.NoError(t, d.Connect(s.addr))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, timeout.SendMessage(ctx, d, "just a body"))
		ev := <-evc
		assert.Equal(t, reliable.ServerEventMalformed, ev.Kind)
		waitFor(t, 5*time.Second, "the error reply withheld", func() bool { return s.srv.Stats().ErrorsWithheld == 1 })
		_, err := d.RecvMessageBytes(zmq.DONTWAIT)
		assert.ErrorIs(t, err, syscall.EAGAIN)
	})

	st := s.srv.Stats()
	assert.EqualValues(t, len(cases)+1, st.Malformed)
	assert.EqualValues(t, len(cases), st.ErrorsByCode[wire.CodeMalformed])
	assert.EqualValues(t, 1, st.ErrorsWithheld)
	assert.Zero(t, st.Executed, "no malformed request reaches the handler")
	assert.Zero(t, execs.get("body"))

	// The server still serves well-formed requests.
	r := newPeer(t, zctx, s.addr).call(1, "fine")
	assert.Equal(t, []string{"fine"}, r.body)
}

// TestServerPlainEnvelopesPassThrough checks that routing frames which are
// not ID frames (proxy hops, REQ_CORRELATE ids, identities) are echoed
// untouched, as a REP would.
func TestServerPlainEnvelopesPassThrough(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "inproc", echoUpper)
	d := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, d.Connect(s.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env := [][]byte{[]byte("hop-1"), {0, 0x80, 0, 0, 0x29}, []byte("ZG")}
	err := timeout.SendMessage(ctx, d, env, "", "body")
	require.NoError(t, err)
	got, err := timeout.RecvMessageBytes(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, append(env, []byte{}, []byte("BODY")), got)
}
