package mdp_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/reliable/mdp"
)

func TestWorkerMessageRoundTrip(t *testing.T) {
	for _, m := range []mdp.WorkerMessage{
		{Command: mdp.CommandReady, Service: "echo"},
		{Command: mdp.CommandRequest, Client: []byte("addr"), Body: frames("a", "b")},
		{Command: mdp.CommandReply, Client: []byte("addr"), Body: frames("")},
		{Command: mdp.CommandHeartbeat},
		{Command: mdp.CommandDisconnect},
	} {
		got, err := mdp.ParseWorkerMessage(m.Frames())
		require.NoError(t, err, m.Command)
		assert.Equal(t, m, got)
	}
	// An empty body goes out as one empty frame.
	m := mdp.WorkerMessage{Command: mdp.CommandReply, Client: []byte("c")}
	assert.Equal(t, frames("", mdp.WorkerHeader, "\x03", "c", "", ""), m.Frames())
	assert.Equal(t, frames("", mdp.WorkerHeader, "\x01", "svc"), mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"}.Frames())
}

func TestParseWorkerMessageMalformed(t *testing.T) {
	long := strings.Repeat("s", mdp.MaxServiceName+1)
	for _, msg := range [][][]byte{
		nil,
		frames(""),
		frames("", mdp.WorkerHeader),
		frames("x", mdp.WorkerHeader, "\x04"),
		frames("", mdp.ClientHeader, "\x04"),
		frames("", mdp.WorkerHeader, "\x04\x04"),
		frames("", mdp.WorkerHeader, "\x09"),
		frames("", mdp.WorkerHeader, "\x01"),
		frames("", mdp.WorkerHeader, "\x01", ""),
		frames("", mdp.WorkerHeader, "\x01", long),
		frames("", mdp.WorkerHeader, "\x01", "a", "b"),
		frames("", mdp.WorkerHeader, "\x02", "c", ""),
		frames("", mdp.WorkerHeader, "\x03", "c", "x", "body"),
		frames("", mdp.WorkerHeader, "\x04", "extra"),
		frames("", mdp.WorkerHeader, "\x05", "extra"),
	} {
		_, err := mdp.ParseWorkerMessage(msg)
		assert.ErrorIs(t, err, mdp.ErrMalformed, "%q", msg)
		var me *mdp.MalformedError
		assert.True(t, errors.As(err, &me), "%q", msg)
	}
}

func TestClientMessage(t *testing.T) {
	msg := mdp.ClientRequest("echo", frames("a", "b"))
	assert.Equal(t, frames("", mdp.ClientHeader, "echo", "a", "b"), msg)
	service, body, err := mdp.ParseClientMessage(msg)
	require.NoError(t, err)
	assert.Equal(t, "echo", service)
	assert.Equal(t, frames("a", "b"), body)
	assert.Equal(t, frames("", mdp.ClientHeader, "echo", ""), mdp.ClientRequest("echo", nil))
	for _, bad := range [][][]byte{
		nil, frames("", mdp.ClientHeader, "echo"), frames("x", mdp.ClientHeader, "echo", "b"),
		frames("", mdp.WorkerHeader, "echo", "b"), frames("", mdp.ClientHeader, "", "b"),
		frames("", mdp.ClientHeader, strings.Repeat("s", mdp.MaxServiceName+1), "b"),
	} {
		_, _, err := mdp.ParseClientMessage(bad)
		assert.ErrorIs(t, err, mdp.ErrMalformed, "%q", bad)
	}
}

func TestNames(t *testing.T) {
	assert.Equal(t, "heartbeat", mdp.CommandHeartbeat.String())
	assert.Equal(t, "Command(0x09)", mdp.Command(9).String())
	assert.Equal(t, "worker-expired", mdp.BrokerWorkerExpired.String())
	assert.Equal(t, "BrokerEventKind(99)", mdp.BrokerEventKind(99).String())
	assert.Equal(t, "broker-lost", mdp.WorkerBrokerLost.String())
	assert.Equal(t, "WorkerEventKind(99)", mdp.WorkerEventKind(99).String())
}

// joinFrames and splitFrames encode a message as length-prefixed frames
// for the fuzzer.
func splitFrames(data []byte) [][]byte {
	var msg [][]byte
	for len(data) > 0 {
		n := min(int(data[0]), len(data)-1)
		msg = append(msg, data[1:1+n])
		data = data[1+n:]
	}
	return msg
}

func joinFrames(msg [][]byte) []byte {
	var out []byte
	for _, f := range msg {
		out = append(out, byte(len(f)))
		out = append(out, f...)
	}
	return out
}

func FuzzParseWorkerMessage(f *testing.F) {
	f.Add(joinFrames(mdp.WorkerMessage{Command: mdp.CommandReady, Service: "echo"}.Frames()))
	f.Add(joinFrames(mdp.WorkerMessage{Command: mdp.CommandRequest, Client: []byte("c"), Body: frames("x")}.Frames()))
	f.Add(joinFrames(mdp.WorkerMessage{Command: mdp.CommandHeartbeat}.Frames()))
	f.Add(joinFrames(frames("", mdp.WorkerHeader, "\x07")))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := splitFrames(data)
		in := joinFrames(msg)
		m, err := mdp.ParseWorkerMessage(msg)
		if !bytes.Equal(in, joinFrames(msg)) {
			t.Fatal("ParseWorkerMessage modified its input")
		}
		if err != nil {
			if !errors.Is(err, mdp.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		again, err := mdp.ParseWorkerMessage(m.Frames())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", m.Frames(), err)
		}
		if !bytes.Equal(joinFrames(again.Frames()), joinFrames(m.Frames())) {
			t.Fatalf("round trip: %+v then %+v", m, again)
		}
	})
}

func FuzzParseClientMessage(f *testing.F) {
	f.Add(joinFrames(mdp.ClientRequest("echo", frames("x"))))
	f.Add(joinFrames(frames("", mdp.ClientHeader, "", "x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := splitFrames(data)
		service, body, err := mdp.ParseClientMessage(msg)
		if err != nil {
			if !errors.Is(err, mdp.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(joinFrames(mdp.ClientRequest(service, body)), joinFrames(msg)) {
			t.Fatalf("round trip of %q", msg)
		}
	})
}
