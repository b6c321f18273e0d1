package wire

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTraceFrameIgnoredByParser: the request parser of servers that
// predate trace frames (ParseRouterMessage has not changed for them) takes
// a trace frame for one more routing frame: the request is still
// correlated, with its id and body, and its reply echoes the frame, which
// the client strips.
func TestTraceFrameIgnoredByParser(t *testing.T) {
	id := RequestID{Client: 1, Seq: 2, Attempt: 3}
	idf := string(id.AppendFrame(nil, KindRequest))
	trace := string(AppendTraceFrame(nil, []byte("traceparent=00-abc-def-01")))

	in, ok := ParseRouterMessage(fr("rid", trace, idf, "", "a", "b"))
	require.True(t, ok)
	assert.Empty(t, in.Malformed)
	assert.True(t, in.Correlated)
	assert.Equal(t, id, in.ID)
	assert.Equal(t, fr("a", "b"), in.Body)
	assert.Equal(t, fr("rid", trace, idf), in.Envelope)

	carried, ok := TraceOf(in.Envelope)
	require.True(t, ok)
	assert.Equal(t, "traceparent=00-abc-def-01", string(carried))

	reply := Reply(in.Envelope, in.IDForm, KindReply, fr("ok"))
	assert.Equal(t, fr("rid", trace, string(id.AppendFrame(nil, KindReply)), "", "ok"), reply)
	// The client's DEALER gets the reply without the routing id.
	assert.Equal(t, fr(string(id.AppendFrame(nil, KindReply)), "", "ok"), StripTrace(reply[1:]))
}

func TestTraceFrameBounds(t *testing.T) {
	assert.Nil(t, AppendTraceFrame(nil, []byte(strings.Repeat("x", MaxTraceFrame))), "too long: not sent")
	id := string(RequestID{Client: 1, Seq: 1, Attempt: 1}.AppendFrame(nil, KindRequest))
	for name, env := range map[string][][]byte{
		"no id frame":   fr("rid", string(AppendTraceFrame(nil, []byte("x"))), "hop"),
		"routing id":    fr(string(AppendTraceFrame(nil, []byte("x"))), id),
		"oversized":     fr("rid", string(tracePrefix)+strings.Repeat("x", MaxTraceFrame), id),
		"ordinary hop":  fr("rid", "hop", id),
		"empty":         nil,
		"truncated tag": fr("rid", "ZG\x01", id),
	} {
		_, ok := TraceOf(env)
		assert.False(t, ok, name)
	}
	// A trace frame in the last envelope position is a malformed ID frame.
	in, _ := ParseRouterMessage(fr("rid", string(AppendTraceFrame(nil, []byte("x"))), "", "a"))
	assert.NotEmpty(t, in.Malformed)
	// Messages that are not an echoed trace are left alone.
	assert.Equal(t, fr("a", "b", "c"), StripTrace(fr("a", "b", "c")))
}
