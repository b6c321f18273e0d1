package reliable_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

func newReq(t *testing.T, zctx *zmq.Context, timeout time.Duration) *reliable.ReqSocket {
	t.Helper()
	r, err := reliable.NewReqSocket(zctx)
	require.NoError(t, err)
	require.NoError(t, r.SetRcvtimeo(timeout))
	require.NoError(t, r.SetSndtimeo(timeout))
	t.Cleanup(func() { r.Close() })
	return r
}

// TestReqSocketHealsAfterTimeout: a late reply times the receive out; the
// next Send works (a plain REQ fails with EFSM), and the next Recv returns
// the answer to the new request, never the late one.
func TestReqSocketHealsAfterTimeout(t *testing.T) {
	peer := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Delay: 300 * time.Millisecond, DelayFirst: 1})
	zctx := zmqtest.Context(t)
	r := newReq(t, zctx, 100*time.Millisecond)
	require.NoError(t, r.Connect(peer.Endpoint))

	_, err := r.SendMessage("first")
	require.NoError(t, err)
	start := time.Now()
	_, err = r.RecvMessage(0)
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, 1, r.Resets())

	// The late answer to "first" arrives while we wait for "second": it
	// went to the closed socket and is never returned.
	require.NoError(t, r.SetRcvtimeo(2*time.Second))
	_, err = r.SendMessage("second")
	require.NoError(t, err, "no EFSM after a timeout")
	msg, err := r.RecvMessage(0)
	require.NoError(t, err)
	assert.Equal(t, []string{"second"}, msg)
	assert.Equal(t, 1, peer.WaitExecutions("first", 1, time.Second))
	assert.Equal(t, 1, peer.WaitExecutions("second", 1, time.Second))
}

// TestReqSocketSendWhileAwaiting: sending again without receiving heals
// instead of failing with EFSM.
func TestReqSocketSendWhileAwaiting(t *testing.T) {
	zctx := zmqtest.Context(t)
	ep := echoServer(t, zctx, "inproc")
	r := newReq(t, zctx, time.Second)
	require.NoError(t, r.Connect(ep))
	_, err := r.Send("a", 0)
	require.NoError(t, err)
	_, err = r.Send("b", 0)
	require.NoError(t, err)
	got, err := r.Recv(0)
	require.NoError(t, err)
	assert.Equal(t, "b", got)
	assert.Equal(t, 1, r.Resets())
}

// TestReqSocketEndpointNeverExisted: no peer; send times out (IMMEDIATE
// keeps the request from being queued for later), nothing hangs.
func TestReqSocketEndpointNeverExisted(t *testing.T) {
	zctx := zmqtest.Context(t)
	r := newReq(t, zctx, 100*time.Millisecond)
	require.NoError(t, r.Connect("tcp://127.0.0.1:1"))
	start := time.Now()
	_, err := r.SendMessage("x")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}

// TestReqSocketServerKilled: the server dies mid-request and comes back;
// the application's retry loop (as in zguide's lpclient) just works.
func TestReqSocketServerKilled(t *testing.T) {
	first := testpeer.Start(t, testpeer.Behaviour{Bind: "tcp://127.0.0.1:*", Delay: 10 * time.Second, DelayFirst: 1})
	zctx := zmqtest.Context(t)
	r := newReq(t, zctx, 300*time.Millisecond)
	require.NoError(t, r.Connect(first.Endpoint))
	_, err := r.SendMessage("req")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = first.AwaitExec(ctx)
	require.NoError(t, err)
	first.Kill()
	second := testpeer.Start(t, testpeer.Behaviour{Bind: first.Endpoint})
	var reply []string
	for try := 0; try < 10 && reply == nil; try++ {
		if _, err := r.RecvMessage(0); err == nil {
			t.Fatal("a reply from a dead server")
		}
		if _, err := r.SendMessage("req"); err != nil {
			continue
		}
		reply, _ = r.RecvMessage(0)
	}
	assert.Equal(t, []string{"req"}, reply)
	assert.Equal(t, 1, second.WaitExecutions("req", 1, time.Second))
}

func pythonWithZMQ(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../scripts/find-python.sh").Output()
	if err != nil {
		t.Fatalf("no python3 with pyzmq: run `make deps` (scripts/install-deps.sh): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startPyREP runs testdata/peers/rep_echo.py (pyzmq, not our code).
func startPyREP(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(pythonWithZMQ(t), "../testdata/peers/rep_echo.py", "--bind", "tcp://127.0.0.1:*")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, testpeer.StartTied(t, cmd, nil)) // waited for by the cleanup below
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if ep, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return ep
		}
	}
	t.Fatal("pyzmq peer did not start")
	return ""
}

func TestInteropPyzmqREP(t *testing.T) {
	ep := startPyREP(t)
	zctx := zmqtest.Context(t)
	for _, mode := range modes {
		c := newClient(t, zctx, []string{ep}, reliable.WithMode(mode), reliable.WithAttemptTimeout(2*time.Second))
		for i := range 20 {
			body := fmt.Sprintf("%v-%d", mode, i)
			rep, err := c.Request(context.Background(), []byte("h"), []byte(body))
			require.NoError(t, err)
			assert.Equal(t, [][]byte{[]byte("h"), []byte(body)}, rep)
		}
	}
	r := newReq(t, zctx, 2*time.Second)
	require.NoError(t, r.Connect(ep))
	_, err := r.SendMessage("plain")
	require.NoError(t, err)
	msg, err := r.RecvMessage(0)
	require.NoError(t, err)
	assert.Equal(t, []string{"plain"}, msg)
	assert.False(t, errors.Is(err, zmq.EFSM))
}

// TestReqSocketCloseWakesRecv: Close from another goroutine ends a blocked
// receive with net.ErrClosed, and that is not counted as a repair.
func TestReqSocketCloseWakesRecv(t *testing.T) {
	zctx := zmqtest.Context(t)
	mute := zmqtest.Socket(t, zctx, zmq.ROUTER) // reads nothing, answers nothing
	ep := zmqtest.Bind(t, mute, "tcp")
	r := newReq(t, zctx, time.Minute)
	require.NoError(t, r.Connect(ep))
	_, err := r.Send("x", 0)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := r.Recv(0)
		done <- err
	}()
	waitParkedIn(t, "reliable.(*ReqSocket).Recv")
	require.NoError(t, r.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the receive")
	}
	assert.Zero(t, r.Resets())
}

// waitParkedIn waits until a goroutine whose stack contains fn is parked on
// a socket's ZMQ_FD, read from the goroutines' stacks.
func waitParkedIn(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, fn) && strings.Contains(g, "engine.(*waiter).wait") {
				return
			}
		}
	}
	t.Fatalf("no goroutine parked in %s", fn)
}

// TestReqSocketIdentifiesAsZmqguard: a ReqSocket's routing id names it a
// zmqguard client, so a zmqguard server sends it error replies in the
// plain form; every repair gives the new socket an id of its own (a
// ROUTER ignores a connection whose id it still knows), and an id the
// caller chose is kept.
func TestReqSocketIdentifiesAsZmqguard(t *testing.T) {
	zctx := zmqtest.Context(t)
	var mu sync.Mutex
	var rids []string
	// By request body: an abandoned request that libzmq had already
	// written out is served too, perhaps after the next one.
	ridOf := map[string]string{}
	s := listen(t, zctx, "tcp", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		info, _ := reliable.RequestInfoFromContext(ctx)
		mu.Lock()
		rids = append(rids, string(info.RoutingID))
		ridOf[string(req[0])] = string(info.RoutingID)
		mu.Unlock()
		if string(req[0]) == "fail" {
			return nil, errors.New("it failed")
		}
		return req, nil
	})
	r := newReq(t, zctx, 2*time.Second)
	require.NoError(t, r.Connect(s.addr))
	_, err := r.SendMessage("fail")
	require.NoError(t, err)
	got, err := r.RecvMessage(0)
	require.NoError(t, err)
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodeHandler, "it failed"}, got)

	for _, body := range []string{"one", "two"} {
		_, err = r.SendMessage("abandoned") // sent again without a receive: a repair
		require.NoError(t, err)
		_, err = r.SendMessage(body)
		require.NoError(t, err)
		got, err = r.RecvMessage(0)
		require.NoError(t, err)
		assert.Equal(t, []string{body}, got)
	}
	assert.Equal(t, 2, r.Resets())
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(rids), 3)
	seen := map[string]bool{}
	var client uint64
	for i, rid := range rids {
		c, ok := wire.ParseClientRoutingID([]byte(rid))
		require.True(t, ok, "routing id %q", rid)
		if i == 0 {
			client = c
		}
		assert.Equal(t, client, c, "every socket names the same client")
		seen[rid] = true
	}
	assert.Len(t, seen, 3, "a routing id per socket: %q", rids)

	mu.Unlock()
	require.NoError(t, r.SetIdentity("my-own-id"))
	_, err = r.SendMessage("abandoned")
	require.NoError(t, err)
	_, err = r.SendMessage("mine")
	require.NoError(t, err)
	got, err = r.RecvMessage(0)
	require.NoError(t, err)
	assert.Equal(t, []string{"mine"}, got)
	mu.Lock()
	assert.Equal(t, "my-own-id", ridOf["mine"])
}
