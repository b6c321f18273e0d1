package reliable_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// interopHandler answers "fail" with an error, "panic" with a panic and
// anything else with the frames upper-cased.
func interopHandler(ctx context.Context, req [][]byte) ([][]byte, error) {
	switch string(req[0]) {
	case "fail":
		return nil, errors.New("it failed")
	case "panic":
		panic("oh no")
	}
	return echoUpper(ctx, req)
}

// plainCases are what a plain REQ client that identifies as a zmqguard
// client (its routing id starts with wire.ClientRoutingIDPrefix) sends
// and, per PROTOCOL.md section 6, gets.
var plainCases = []struct {
	send []string
	want []string
}{
	{[]string{"hello"}, []string{"HELLO"}},
	{[]string{"two", "frames"}, []string{"TWO", "FRAMES"}},
	{[]string{"fail"}, []string{wire.PlainErrorMarker, wire.CodeHandler, "it failed"}},
	{[]string{"panic"}, []string{wire.PlainErrorMarker, wire.CodePanic, "handler panicked"}},
	{[]string{""}, []string{""}},
}

// pebbeREQ returns an unmodified pebbe/zmq4 REQ socket connected to addr,
// with the routing id rid unless it is empty.
func pebbeREQ(t *testing.T, addr, rid string) *zmq4.Socket {
	t.Helper()
	pctx, err := zmq4.NewContext()
	require.NoError(t, err)
	req, err := pctx.NewSocket(zmq4.REQ)
	require.NoError(t, err)
	t.Cleanup(func() {
		req.Close()
		pctx.Term()
	})
	require.NoError(t, req.SetLinger(0))
	require.NoError(t, req.SetRcvtimeo(5*time.Second))
	if rid != "" {
		require.NoError(t, req.SetIdentity(rid))
	}
	require.NoError(t, req.Connect(addr))
	return req
}

// TestServerPlainPebbeREQ talks to the server with unmodified pebbe/zmq4
// REQ sockets that know nothing of the protocol: one that identifies as a
// zmqguard client by its routing id gets error replies in the plain form;
// one with the routing id libzmq makes up is a zguide peer, and gets its
// replies but no error reply at all.
func TestServerPlainPebbeREQ(t *testing.T) {
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", interopHandler)

	req := pebbeREQ(t, s.addr, wire.ClientRoutingIDPrefix+"-pebbe")
	for _, tc := range plainCases {
		parts := make([]interface{}, len(tc.send))
		for i, p := range tc.send {
			parts[i] = p
		}
		_, err := req.SendMessage(parts...)
		require.NoError(t, err)
		got, err := req.RecvMessage(0)
		require.NoError(t, err, "send %q", tc.send)
		assert.Equal(t, tc.want, got, "send %q", tc.send)
	}

	zguide := pebbeREQ(t, s.addr, "")
	_, err := zguide.SendMessage("hello")
	require.NoError(t, err)
	got, err := zguide.RecvMessage(0)
	require.NoError(t, err)
	assert.Equal(t, []string{"HELLO"}, got)
	_, err = zguide.SendMessage("fail")
	require.NoError(t, err)
	waitFor(t, 5*time.Second, "the error reply withheld", func() bool { return s.srv.Stats().ErrorsWithheld == 1 })
	_, err = zguide.RecvMessage(zmq4.DONTWAIT)
	assert.ErrorIs(t, err, zmq4.Errno(syscall.EAGAIN), "no reply: the client retries as after a lost reply")
	st := s.srv.Stats()
	assert.EqualValues(t, len(plainCases)+1, st.Replies)
	assert.EqualValues(t, 2, st.ErrorReplies, "the withheld one is not counted as sent")
}

const pyREQClient = `
import json, sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 5000)
s.setsockopt(zmq.ROUTING_ID, b"zmqguard-pyzmq")
s.connect(sys.argv[1])
out = []
for msg in json.loads(sys.argv[2]):
    s.send_multipart([m.encode() for m in msg])
    out.append([f.decode() for f in s.recv_multipart()])
print(json.dumps(out))
s.close()
ctx.term()
`

// serverTestPython returns a python3 that has pyzmq, or skips the test.
func serverTestPython(t *testing.T) string {
	t.Helper()
	if py := os.Getenv("ZMQGUARD_PYTHON"); py != "" {
		return py
	}
	for _, script := range []string{"../scripts/find-python.sh"} {
		if _, err := os.Stat(script); err == nil {
			out, err := exec.Command("bash", script).Output()
			if err == nil {
				return string(trimNL(out))
			}
		}
	}
	py := "/usr/bin/python3"
	// Run from a directory without a zmq/ folder: from the repository
	// root, "import zmq" would find our Go package's directory.
	cmd := exec.Command(py, "-c", "import zmq")
	cmd.Dir = t.TempDir()
	if err := cmd.Run(); err != nil {
		t.Skipf("no python3 with pyzmq (%v); install python3-zmq", err)
	}
	return py
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// TestServerPlainPyzmqREQ talks to the server from pyzmq's REQ socket in
// another process, with a zmqguard client's routing id.
func TestServerPlainPyzmqREQ(t *testing.T) {
	py := serverTestPython(t)
	zctx := zmqtest.Context(t)
	s := listen(t, zctx, "tcp", interopHandler)

	var sends [][]string
	for _, tc := range plainCases {
		sends = append(sends, tc.send)
	}
	arg, err := json.Marshal(sends)
	require.NoError(t, err)
	script := filepath.Join(t.TempDir(), "req.py")
	require.NoError(t, os.WriteFile(script, []byte(pyREQClient), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, s.addr, string(arg))
	cmd.Dir = filepath.Dir(script)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Logf("python stderr: %s", ee.Stderr)
	}
	require.NoError(t, err)
	var got [][]string
	require.NoError(t, json.Unmarshal(out, &got), "python printed %q", out)
	require.Len(t, got, len(plainCases))
	for i, tc := range plainCases {
		assert.Equal(t, tc.want, got[i], "send %q", tc.send)
	}
	assert.EqualValues(t, len(plainCases), s.srv.Stats().Replies)
}

// TestServerZguideLPClient runs zguide's strict Lazy Pirate client
// (testdata/peers/lpclient.py: int(reply) == sequence) against the server,
// with a handler that fails the first try of request 2 and panics on the
// first try of request 4. The client would crash on an error reply
// (int(b'ZGERR')); it gets none, resends after its timeout, and is
// answered.
func TestServerZguideLPClient(t *testing.T) {
	zctx := zmqtest.Context(t)
	flaky := &testpeer.FirstTries{Fail: "2", Panic: "4"}
	s := listen(t, zctx, "tcp", flaky.Handle)
	lp := testpeer.StartPy(t, "lpclient.py", "--connect", s.addr, "--requests", "5", "--timeout-ms", "300")
	out, err := lp.Wait(t, 30*time.Second)
	require.NoError(t, err, "lpclient crashed or gave up: %q", out)
	assert.Equal(t, []string{"OK 1", "OK 2", "OK 3", "OK 4", "OK 5"}, out)
	st := s.srv.Stats()
	assert.EqualValues(t, 2, st.ErrorsWithheld)
	assert.EqualValues(t, 5, st.Replies)
	assert.Equal(t, 2, flaky.Runs("2"))
	assert.Equal(t, 2, flaky.Runs("4"))
}
