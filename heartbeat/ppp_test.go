package heartbeat

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPPPEncode(t *testing.T) {
	assert.Equal(t, [][]byte{{0x01}}, PPPReadyMessage())
	assert.Equal(t, [][]byte{{0x02}}, PPPHeartbeatMessage())
	// Each call returns a fresh message: mutating one cannot corrupt another.
	m := PPPReadyMessage()
	m[0][0] = 9
	assert.Equal(t, [][]byte{{0x01}}, PPPReadyMessage())
}

func TestParsePPP(t *testing.T) {
	cases := []struct {
		msg  [][]byte
		want PPPCommand
		bad  bool
	}{
		{PPPReadyMessage(), PPPReadyCommand, false},
		{PPPHeartbeatMessage(), PPPHeartbeatCommand, false},
		{[][]byte{[]byte("client"), {}, []byte("body")}, PPPRequest, false},
		{[][]byte{{}, {}}, PPPRequest, false},
		{nil, 0, true},
		{[][]byte{{}}, 0, true},
		{[][]byte{{0x03}}, 0, true},
		{[][]byte{{0x01, 0x01}}, 0, true},
		{[][]byte{make([]byte, 100)}, 0, true},
	}
	for _, tc := range cases {
		got, err := ParsePPP(tc.msg)
		if tc.bad {
			require.Error(t, err, "%x", tc.msg)
			assert.True(t, errors.Is(err, ErrPPPMalformed))
			var pe *PPPError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, len(tc.msg), pe.Frames)
			continue
		}
		require.NoError(t, err, "%x", tc.msg)
		assert.Equal(t, tc.want, got)
	}
}

func TestPPPCommandString(t *testing.T) {
	assert.Equal(t, "request", PPPRequest.String())
	assert.Equal(t, "ready", PPPReadyCommand.String())
	assert.Equal(t, "heartbeat", PPPHeartbeatCommand.String())
	assert.Equal(t, "PPPCommand(7)", PPPCommand(7).String())
}

func FuzzParsePPP(f *testing.F) {
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
		cmd, err := ParsePPP(msg)
		if n > 1 {
			require.NoError(t, err)
			require.Equal(t, PPPRequest, cmd)
		} else if err != nil {
			require.ErrorIs(t, err, ErrPPPMalformed)
		}
	})
}
