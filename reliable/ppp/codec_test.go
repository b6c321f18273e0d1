package ppp

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncode(t *testing.T) {
	assert.Equal(t, [][]byte{{0x01}}, ReadyMessage())
	assert.Equal(t, [][]byte{{0x02}}, HeartbeatMessage())
	// Each call returns a fresh message: mutating one cannot corrupt another.
	m := ReadyMessage()
	m[0][0] = 9
	assert.Equal(t, [][]byte{{0x01}}, ReadyMessage())
}

func TestParse(t *testing.T) {
	cases := []struct {
		msg  [][]byte
		want Command
		bad  bool
	}{
		{ReadyMessage(), CommandReady, false},
		{HeartbeatMessage(), CommandHeartbeat, false},
		{[][]byte{[]byte("client"), {}, []byte("body")}, CommandRequest, false},
		{[][]byte{{}, {}}, CommandRequest, false},
		{nil, 0, true},
		{[][]byte{{}}, 0, true},
		{[][]byte{{0x03}}, 0, true},
		{[][]byte{{0x01, 0x01}}, 0, true},
		{[][]byte{make([]byte, 100)}, 0, true},
	}
	for _, tc := range cases {
		got, err := Parse(tc.msg)
		if tc.bad {
			require.Error(t, err, "%x", tc.msg)
			assert.True(t, errors.Is(err, ErrMalformed))
			var pe *MalformedError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, len(tc.msg), pe.Frames)
			continue
		}
		require.NoError(t, err, "%x", tc.msg)
		assert.Equal(t, tc.want, got)
	}
}

func TestCommandString(t *testing.T) {
	assert.Equal(t, "request", CommandRequest.String())
	assert.Equal(t, "ready", CommandReady.String())
	assert.Equal(t, "heartbeat", CommandHeartbeat.String())
	assert.Equal(t, "Command(7)", Command(7).String())
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{1}, 1)
	f.Add([]byte{2}, 1)
	f.Add([]byte("abc"), 3)
	f.Fuzz(func(t *testing.T, frame []byte, n int) {
		n = n%4 + 1
		if n < 0 {
			n = -n
		}
		msg := make([][]byte, n)
		for i := range msg {
			msg[i] = frame
		}
		cmd, err := Parse(msg)
		if n > 1 {
			require.NoError(t, err)
			require.Equal(t, CommandRequest, cmd)
		} else if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
		}
	})
}
