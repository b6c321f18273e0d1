package reliable

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

	in, ok := parseRouterMessage(fr("rid", idf, "", "a", "b"))
	assert.True(t, ok)
	assert.True(t, in.proto)
	assert.Equal(t, id, in.id)
	assert.Equal(t, fr("rid", idf), in.env)
	assert.Equal(t, fr("a", "b"), in.body)
	assert.Empty(t, in.bad)

	in, ok = parseRouterMessage(fr("rid", "hop", idf, "", "a"))
	assert.True(t, ok && in.proto, "the ID frame is the last envelope frame, behind proxies")

	in, ok = parseRouterMessage(fr("rid", "", "a"))
	assert.True(t, ok)
	assert.False(t, in.proto)
	assert.Equal(t, fr("rid"), in.env)

	// The routing id alone is never treated as an ID frame.
	in, _ = parseRouterMessage(fr(idf, "", "a"))
	assert.False(t, in.proto)
	assert.Empty(t, in.bad)

	for _, msg := range [][][]byte{nil, fr("rid")} {
		_, ok = parseRouterMessage(msg)
		assert.False(t, ok, "%q cannot be answered", msg)
	}
}

func TestReplyFrames(t *testing.T) {
	id := RequestID{Client: 1, Seq: 2, Attempt: 3}
	env := fr("rid", string(id.AppendFrame(nil, KindRequest)))
	got := replyFrames(env, true, KindError, errorBody(CodeHandler, "x"))
	assert.Equal(t, fr("rid", string(id.AppendFrame(nil, KindError)), "", CodeHandler, "x"), got)
	assert.Equal(t, byte(KindRequest), env[1][offKind], "the request's envelope is not modified")

	got = replyFrames(fr("rid"), false, KindError, errorBody(CodeHandler, "x"))
	assert.Equal(t, fr("rid", "", PlainErrorMarker, CodeHandler, "x"), got)
	got = replyFrames(fr("rid"), false, KindReply, fr("ok"))
	assert.Equal(t, fr("rid", "", "ok"), got)

	// REP: no envelope.
	assert.Equal(t, fr("ok"), replyFrames(nil, false, KindReply, fr("ok")))
	assert.Equal(t, fr(PlainErrorMarker, CodePanic, "p"), replyFrames(nil, false, KindError, errorBody(CodePanic, "p")))
}

func TestErrorBodyClipped(t *testing.T) {
	long := make([]byte, 3*maxErrorText)
	b := errorBody(string(long), string(long))
	assert.Len(t, b[0], maxErrorText)
	assert.Len(t, b[1], maxErrorText)
}
