package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fr(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestParseRouterMessage(t *testing.T) {
	id := RequestID{Client: 1, Seq: 2, Attempt: 3}
	idf := string(id.AppendFrame(nil, KindRequest))

	in, ok := ParseRouterMessage(fr("rid", idf, "", "a", "b"))
	assert.True(t, ok)
	assert.True(t, in.Correlated)
	assert.Equal(t, id, in.ID)
	assert.Equal(t, fr("rid", idf), in.Envelope)
	assert.Equal(t, fr("a", "b"), in.Body)
	assert.Empty(t, in.Malformed)

	in, ok = ParseRouterMessage(fr("rid", "hop", idf, "", "a"))
	assert.True(t, ok && in.Correlated, "the ID frame is the last envelope frame, behind proxies")

	in, ok = ParseRouterMessage(fr("rid", "", "a"))
	assert.True(t, ok)
	assert.False(t, in.Correlated)
	assert.Equal(t, fr("rid"), in.Envelope)

	// The routing id alone is never treated as an ID frame.
	in, _ = ParseRouterMessage(fr(idf, "", "a"))
	assert.False(t, in.Correlated)
	assert.Empty(t, in.Malformed)

	for _, msg := range [][][]byte{nil, fr("rid")} {
		_, ok = ParseRouterMessage(msg)
		assert.False(t, ok, "%q cannot be answered", msg)
	}
}

func TestReply(t *testing.T) {
	id := RequestID{Client: 1, Seq: 2, Attempt: 3}
	env := fr("rid", string(id.AppendFrame(nil, KindRequest)))
	got := Reply(env, true, KindError, EncodeErrorBody(CodeHandler, "x"))
	assert.Equal(t, fr("rid", string(id.AppendFrame(nil, KindError)), "", CodeHandler, "x"), got)
	assert.Equal(t, byte(KindRequest), env[1][offKind], "the request's envelope is not modified")
	got = Reply(env, true, KindReply, fr("ok"))
	assert.Equal(t, fr("rid", string(id.AppendFrame(nil, KindReply)), "", "ok"), got)
	// Without idForm the envelope is echoed as it is.
	got = Reply(env, false, KindReply, fr("ok"))
	assert.Equal(t, fr("rid", string(id.AppendFrame(nil, KindRequest)), "", "ok"), got)

	// A plain client that identifies as zmqguard gets the plain form; any
	// other plain client gets no error reply at all.
	zg := string(ClientRoutingID(7, 1))
	got = Reply(fr(zg), false, KindError, EncodeErrorBody(CodeHandler, "x"))
	assert.Equal(t, fr(zg, "", PlainErrorMarker, CodeHandler, "x"), got)
	got = Reply(fr("proxy hop", zg), false, KindError, EncodeErrorBody(CodeHandler, "x"))
	assert.Equal(t, fr("proxy hop", zg, "", PlainErrorMarker, CodeHandler, "x"), got)
	assert.Nil(t, Reply(fr("rid"), false, KindError, EncodeErrorBody(CodeHandler, "x")))
	assert.Nil(t, Reply(fr(zg, "hop"), false, KindError, EncodeErrorBody(CodeHandler, "x")),
		"only the last envelope frame, the client's own routing id, counts")
	got = Reply(fr("rid"), false, KindReply, fr("ok"))
	assert.Equal(t, fr("rid", "", "ok"), got)
	// idForm is ignored when the last frame is no ID frame.
	got = Reply(fr(zg), true, KindError, EncodeErrorBody(CodeHandler, "x"))
	assert.Equal(t, fr(zg, "", PlainErrorMarker, CodeHandler, "x"), got)
	// A frame meant as an ID frame (another version, a wrong length) is a
	// protocol-aware client: it learns in the plain form what is wrong.
	got = Reply(fr("rid", "ZG\x01Q"), false, KindError, EncodeErrorBody(CodeMalformed, "x"))
	assert.Equal(t, fr("rid", "ZG\x01Q", "", PlainErrorMarker, CodeMalformed, "x"), got)

	// An empty body is one empty frame.
	assert.Equal(t, fr("rid", "", ""), Reply(fr("rid"), false, KindReply, nil))
	assert.Equal(t, fr(""), Reply(nil, false, KindReply, nil))

	// REP: no envelope.
	assert.Equal(t, fr("ok"), Reply(nil, false, KindReply, fr("ok")))
	assert.Equal(t, fr(PlainErrorMarker, CodePanic, "p"), Reply(nil, false, KindError, EncodeErrorBody(CodePanic, "p")))
}

func TestErrorBodyClippedBothWays(t *testing.T) {
	long := strings.Repeat("x", 3*MaxErrorText)
	b := EncodeErrorBody(long, long)
	assert.Len(t, b[0], MaxErrorText)
	assert.Len(t, b[1], MaxErrorText)

	code, msg, err := ParseErrorBody([][]byte{[]byte(long), []byte(long)})
	require.NoError(t, err)
	assert.Len(t, code, MaxErrorText)
	assert.Len(t, msg, MaxErrorText)

	_, _, err = ParseErrorBody(fr("only one"))
	assert.ErrorIs(t, err, ErrMalformed)
	var me *MalformedError
	assert.True(t, errors.As(err, &me))
}

func TestParsePlainError(t *testing.T) {
	code, msg, ok := ParsePlainError(Reply(nil, false, KindError, EncodeErrorBody(CodeNoService, "no worker")))
	require.True(t, ok)
	assert.Equal(t, CodeNoService, code)
	assert.Equal(t, "no worker", msg)

	long := strings.Repeat("x", 2*MaxErrorText)
	code, msg, ok = ParsePlainError(fr(PlainErrorMarker, long, long))
	require.True(t, ok)
	assert.Len(t, code, MaxErrorText)
	assert.Len(t, msg, MaxErrorText)

	for _, body := range [][][]byte{nil, fr("ok"), fr(PlainErrorMarker, "a"), fr("zgerr", "a", "b"), fr(PlainErrorMarker, "a", "b", "c")} {
		_, _, ok := ParsePlainError(body)
		assert.False(t, ok, "%q", body)
	}
}

func TestSplitEnvelope(t *testing.T) {
	env, body, ok := SplitEnvelope(fr("tag", "rid", "", "a", "", "b"))
	require.True(t, ok)
	assert.Equal(t, fr("tag", "rid"), env)
	assert.Equal(t, fr("a", "", "b"), body)

	env, body, ok = SplitEnvelope(fr("", "a"))
	require.True(t, ok)
	assert.Empty(t, env)
	assert.Equal(t, fr("a"), body)

	_, _, ok = SplitEnvelope(fr("a", "b"))
	assert.False(t, ok)

	id := RequestID{Client: 1, Seq: 2, Attempt: 3}.AppendFrame(nil, KindRequest)
	assert.True(t, EndsWithIDFrame([][]byte{[]byte("rid"), id}))
	assert.False(t, EndsWithIDFrame(fr("rid")))
	assert.False(t, EndsWithIDFrame(nil))
}

func TestClientRoutingID(t *testing.T) {
	rid := ClientRoutingID(0x0102030405060708, 9)
	assert.Len(t, rid, ClientRoutingIDLen)
	assert.Equal(t, "zmqguard-0102030405060708-00000009", string(rid))
	client, ok := ParseClientRoutingID(rid)
	assert.True(t, ok)
	assert.EqualValues(t, 0x0102030405060708, client)
	other, _ := ParseClientRoutingID(ClientRoutingID(0x0102030405060708, 10))
	assert.Equal(t, client, other, "every socket of a client names the client")
	for _, b := range []string{"", "zmqguard", "zmqguard-my-own-id", "\x00\x80\x00\x41\xa7",
		"zmqguard-010203040506070g-00000009", "zmqguard-0102030405060708+00000009"} {
		_, ok := ParseClientRoutingID([]byte(b))
		assert.False(t, ok, "%q", b)
	}

	assert.True(t, TakesPlainErrors(fr(string(rid))))
	assert.True(t, TakesPlainErrors(fr("zmqguard-my-own-id")), "any plain client may opt in")
	assert.False(t, TakesPlainErrors(fr("\x00\x80\x00\x41\xa7")), "a REQ socket's generated id")
	assert.False(t, TakesPlainErrors(nil))
}

func TestRequestIDString(t *testing.T) {
	id := RequestID{Client: 0xab, Seq: 7, Attempt: 2}
	assert.Equal(t, "00000000000000ab/7#2", id.String())
	assert.Equal(t, RequestKey{Client: 0xab, Seq: 7}, id.Key())
}
