package zmq_test

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// frame returns size bytes that say which frame they are.
func frame(i, size int) []byte {
	b := bytes.Repeat([]byte{byte('a' + i%26)}, size)
	if size > 0 {
		b[0] = byte(i)
	}
	return b
}

func TestMsgViewLifetimeAndRelease(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		big := zmq.DefaultCopyThreshold * 8
		for i := range 3 {
			_, err := push.SendBytes(frame(i, big), 0)
			require.NoError(t, err)
		}
		_, err := push.SendBytes(frame(3, 10), 0)
		require.NoError(t, err)

		var m zmq.Msg
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.True(t, m.IsView(), "a frame over the threshold is a view of libzmq's message")
		assert.Equal(t, frame(0, big), m.Bytes())
		assert.Equal(t, big, m.Len())
		assert.False(t, m.More())

		// Receiving into the same Msg replaces the view.
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, frame(1, big), m.Bytes())

		// A second Msg holds its own view while the first is reused.
		var held zmq.Msg
		require.NoError(t, pull.RecvMsg(&held, 0))
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.False(t, m.IsView(), "a frame under the threshold is copied")
		assert.Equal(t, frame(3, 10), m.Bytes())
		assert.Equal(t, frame(2, big), held.Bytes())

		require.NoError(t, held.Close())
		require.NoError(t, m.Close())
	})
}

// A frame small enough for libzmq to keep inside its message struct (up
// to 32 bytes) stays there: no copy into the Msg's buffer, which is never
// allocated for it, and it reads, forwards and is replaced like any other.
// A frame of 33 bytes may arrive as a reference into libzmq's shared
// receive buffer instead (ipc, tcp): that one is copied, as larger ones are.
func TestTinyFramesStayInsideTheMsg(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		out, fwd := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		require.NoError(t, out.SetRcvtimeo(5*time.Second))
		sizes := []int{0, 1, 16, 32}
		for i, size := range sizes {
			_, err := push.SendBytes(frame(i, size), 0)
			require.NoError(t, err)
		}

		var m zmq.Msg
		defer m.Close()
		for i, size := range sizes {
			require.NoError(t, pull.RecvMsg(&m, 0))
			assert.Equal(t, frame(i, size), m.Bytes(), "frame %d", i)
			assert.False(t, m.IsView(), "a tiny frame holds no buffer of libzmq's")
			assert.Zero(t, zmq.MsgBufCap(&m), "a tiny frame is not copied into the Msg's buffer")
		}

		// Forwarded without a copy of ours; the Msg is empty afterwards.
		_, err := push.SendBytes(frame(9, 16), 0)
		require.NoError(t, err)
		require.NoError(t, pull.RecvMsg(&m, 0))
		require.NoError(t, fwd.SendMsg(&m, 0))
		assert.Zero(t, m.Len())
		got, err := out.RecvBytes(0)
		require.NoError(t, err)
		assert.Equal(t, frame(9, 16), got)

		// Replaced by larger frames (copied, or inline where libzmq put a
		// 33-byte one inside its struct), then by SetBytes.
		_, err = push.SendBytes(frame(12, 33), 0)
		require.NoError(t, err)
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, frame(12, 33), m.Bytes())
		assert.False(t, m.IsView())
		_, err = push.SendBytes(frame(10, 34), 0)
		require.NoError(t, err)
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, frame(10, 34), m.Bytes())
		assert.Positive(t, zmq.MsgBufCap(&m), "a frame over 33 bytes is copied")
		_, err = push.SendBytes(frame(11, 8), 0)
		require.NoError(t, err)
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, frame(11, 8), m.Bytes())
		require.NoError(t, m.SetBytes([]byte("set")))
		assert.Equal(t, []byte("set"), m.Bytes())

		// In a batch, each Msg holds its own frame.
		for i := range 4 {
			_, err := push.SendBytes(frame(20+i, 16), 0)
			require.NoError(t, err)
		}
		ms := make([]zmq.Msg, 4)
		defer func() {
			for i := range ms {
				ms[i].Close()
			}
		}()
		for got := 0; got < len(ms); {
			n, err := pull.RecvMsgs(ms[got:], 0)
			require.NoError(t, err)
			got += n
		}
		for i := range ms {
			assert.Equal(t, frame(20+i, 16), ms[i].Bytes(), "batch frame %d", i)
		}
	})
}

func TestMsgDoubleReleaseAndUseAfterRelease(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	_, err := push.SendBytes(frame(0, 4096), 0)
	require.NoError(t, err)
	var m zmq.Msg
	require.NoError(t, pull.RecvMsg(&m, 0))
	require.NoError(t, m.Close())

	assert.ErrorIs(t, m.Close(), zmq.ErrMsgClosed, "double release")
	assert.PanicsWithValue(t, zmq.ErrMsgClosed, func() { m.Bytes() }, "use after release")
	assert.Zero(t, m.Len())
	assert.False(t, m.IsView())
	assert.ErrorIs(t, m.SetBytes([]byte("x")), zmq.ErrMsgClosed)
	_, err = m.Alloc(10)
	assert.ErrorIs(t, err, zmq.ErrMsgClosed)
	assert.ErrorIs(t, pull.RecvMsg(&m, zmq.DONTWAIT), zmq.ErrMsgClosed)
	assert.ErrorIs(t, push.SendMsg(&m, 0), zmq.ErrMsgClosed)
	ms := make([]zmq.Msg, 2)
	require.NoError(t, ms[1].Close())
	_, err = pull.RecvMsgs(ms, zmq.DONTWAIT)
	assert.ErrorIs(t, err, zmq.ErrMsgClosed)
	_, err = push.SendMsgs(ms, 0)
	assert.ErrorIs(t, err, zmq.ErrMsgClosed)

	// A Msg that never held anything closes too, once.
	var empty zmq.Msg
	assert.Nil(t, empty.Bytes())
	require.NoError(t, empty.Close())
	assert.ErrorIs(t, empty.Close(), zmq.ErrMsgClosed)
}

func TestMsgsOutliveSocketAndContext(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c, err := zmq.NewContext(zmq.WithLinger(0))
		require.NoError(t, err)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		sizes := []int{0, 10, 5000, 100000}
		for i, n := range sizes {
			_, err := push.SendBytes(frame(i, n), 0)
			require.NoError(t, err)
		}
		held := make([]zmq.Msg, len(sizes))
		for i := range held {
			require.NoError(t, pull.RecvMsg(&held[i], 0))
		}
		require.NoError(t, pull.Close())
		require.NoError(t, push.Close())
		require.NoError(t, c.Term())
		for i, n := range sizes {
			assert.Equal(t, frame(i, n), held[i].Bytes(), "frame %d after Close and Term", i)
			require.NoError(t, held[i].Close())
		}
	})
}

func TestSendNoCopyCompletes(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		buf := frame(7, 1<<20)
		tr1, err := push.SendNoCopy(buf, 0)
		require.NoError(t, err)
		var m zmq.Msg
		require.NoError(t, pull.RecvMsg(&m, 0))
		assert.Equal(t, frame(7, 1<<20), m.Bytes())
		require.NoError(t, m.Close()) // inproc: the receiver held the sender's buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, tr1.Wait(ctx))

		// Under the threshold: copied, done at once.
		small, err := push.SendNoCopy([]byte("small"), 0)
		require.NoError(t, err)
		select {
		case <-small.Done():
		default:
			t.Fatal("a copied send is done at once")
		}
		got, err := pull.RecvBytes(0)
		require.NoError(t, err)
		assert.Equal(t, "small", string(got))
	})
}

func TestSendNoCopyCompletesAfterClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		// A PUSH with a peer that never reads: the frames stay queued
		// in libzmq (in the pipe, which over inproc the PULL shares)
		// until Close drops them.
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, push.SetLinger(0))
		var trackers []*zmq.Tracker
		for i := range 8 {
			tk, err := push.SendNoCopy(frame(i, 1<<20), 0)
			require.NoError(t, err)
			trackers = append(trackers, tk)
		}
		lone := zmqtest.Socket(t, c, zmq.PUSH)
		require.NoError(t, lone.SetLinger(0))
		require.NoError(t, lone.Connect("tcp://127.0.0.1:1")) // never connects
		queued, err := lone.SendNoCopy(frame(9, 1<<16), zmq.DONTWAIT)
		if err == nil {
			trackers = append(trackers, queued)
		} else {
			assert.ErrorIs(t, err, syscall.EAGAIN)
		}
		require.NoError(t, push.Close())
		require.NoError(t, lone.Close())
		require.NoError(t, pull.Close())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i, tk := range trackers {
			require.NoError(t, tk.Wait(ctx), "tracker %d", i)
		}
	})
}

func TestRecvAllocatorGetsEveryBody(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		var mu sync.Mutex
		given := map[*byte]int{}
		require.NoError(t, pull.SetRecvAllocator(func(size int) []byte {
			b := make([]byte, size, size+16) // room for bookkeeping
			mu.Lock()
			given[unsafe.SliceData(b)] = size
			mu.Unlock()
			return b
		}))
		parts := [][]byte{frame(0, 0), frame(1, 1), frame(2, 300), frame(3, 70000)}
		_, err := push.SendMessage(parts)
		require.NoError(t, err)
		_, err = push.SendBytes(frame(4, 33), 0)
		require.NoError(t, err)
		_, err = push.Send("string", 0)
		require.NoError(t, err)

		msg, err := pull.RecvMessageBytes(0)
		require.NoError(t, err)
		one, err := pull.RecvBytes(0)
		require.NoError(t, err)
		str, err := pull.Recv(0)
		require.NoError(t, err)
		assert.Equal(t, parts, msg)
		assert.Equal(t, frame(4, 33), one)
		assert.Equal(t, "string", str)

		mu.Lock()
		defer mu.Unlock()
		assert.Len(t, given, len(parts)+2, "one allocation per body")
		for i, b := range append(msg, one) {
			if len(b) == 0 {
				continue // a zero-length slice has no address of its own
			}
			assert.Equal(t, len(b), given[unsafe.SliceData(b)], "frame %d comes from the allocator", i)
		}

		// A buffer too short is not used.
		require.NoError(t, pull.SetRecvAllocator(func(int) []byte { return make([]byte, 1) }))
		_, err = push.SendBytes(frame(5, 100), 0)
		require.NoError(t, err)
		got, err := pull.RecvBytes(0)
		require.NoError(t, err)
		assert.Equal(t, frame(5, 100), got)
	})
}

func TestRecvIntoReportsTruncation(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		_, err := push.SendMessage("hello", frame(1, 5000))
		require.NoError(t, err)
		buf := make([]byte, 16)
		n, more, err := pull.RecvInto(buf, 0)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
		assert.True(t, more)
		n, more, err = pull.RecvInto(buf, 0)
		var te *zmq.TruncatedError
		require.ErrorAs(t, err, &te)
		assert.ErrorIs(t, err, zmq.ErrTruncated)
		assert.Equal(t, 5000, te.Size)
		assert.Equal(t, 16, n)
		assert.False(t, more)
		assert.Equal(t, frame(1, 5000)[:16], buf)
	})
}

func TestMsgBatchesRoundTrip(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		// 200 frames: single ones, and three-frame messages, of every
		// size class, sent in batches, Go memory and libzmq memory mixed.
		var want [][]byte
		var wantMore []bool
		out := make([]zmq.Msg, 50)
		for round := range 4 {
			for i := range out {
				k := round*len(out) + i
				size := []int{0, 16, 1000, 70000}[k%4]
				b := frame(k, size)
				if k%3 == 0 {
					buf, err := out[i].Alloc(size)
					require.NoError(t, err)
					copy(buf, b)
				} else {
					require.NoError(t, out[i].SetBytes(b))
				}
				more := k%5 < 2 && i < len(out)-1
				out[i].SetMore(more)
				want = append(want, b)
				wantMore = append(wantMore, more)
			}
			n, err := push.SendMsgs(out, 0)
			require.NoError(t, err)
			require.Equal(t, len(out), n)
			for i := range out {
				assert.Zero(t, out[i].Len(), "a sent Msg is empty")
			}
		}
		in := make([]zmq.Msg, 7)
		got := 0
		for got < len(want) {
			n, err := pull.RecvMsgs(in, 0)
			require.NoError(t, err)
			require.Positive(t, n)
			for i := range n {
				require.Equal(t, want[got], in[i].Bytes(), "frame %d", got)
				require.Equal(t, wantMore[got], in[i].More(), "frame %d", got)
				got++
			}
		}
		for i := range in {
			require.NoError(t, in[i].Close())
		}
		for i := range out {
			require.NoError(t, out[i].Close())
		}
	})
}

func TestMsgForwardsWithoutCopy(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	sink, relay := zmqtest.Pair(t, c, "tcp", zmq.PULL, zmq.PUSH)
	require.NoError(t, sink.SetRcvtimeo(5*time.Second))
	var m zmq.Msg
	defer m.Close()
	buf, err := m.Alloc(100000)
	require.NoError(t, err)
	copy(buf, frame(1, 100000))
	require.NoError(t, push.SendMsg(&m, zmq.SNDMORE))
	require.NoError(t, m.SetBytes([]byte("tail")))
	require.NoError(t, push.SendMsg(&m, 0))
	for {
		require.NoError(t, pull.RecvMsg(&m, 0))
		more := m.More()
		f := zmq.Flag(0)
		if more {
			f = zmq.SNDMORE
		}
		require.NoError(t, relay.SendMsg(&m, f))
		if !more {
			break
		}
	}
	msg, err := sink.RecvMessageBytes(0)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{frame(1, 100000), []byte("tail")}, msg)
}

func TestMsgLeakIsReported(t *testing.T) {
	leaked := make(chan struct{}, 16)
	zmq.OnMsgLeak(func() { leaked <- struct{}{} })
	defer zmq.OnMsgLeak(nil)
	func() {
		m := new(zmq.Msg)
		_, err := m.Alloc(4096)
		require.NoError(t, err)
	}()
	deadline := time.After(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-leaked:
			return
		case <-deadline:
			t.Fatal("a dropped Msg was not reported")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestMsgAllocationsPerFrame(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	require.NoError(t, push.SetSndhwm(0))
	require.NoError(t, pull.SetRcvhwm(0))
	out := make([]zmq.Msg, 16)
	in := make([]zmq.Msg, 16)
	defer func() {
		for i := range out {
			out[i].Close()
			in[i].Close()
		}
	}()
	var one zmq.Msg
	defer one.Close()
	for _, size := range []int{16, 1024, 65536} {
		body := frame(1, size)
		round := func() {
			for i := range out {
				out[i].SetBytes(body)
			}
			if _, err := push.SendMsgs(out, 0); err != nil {
				t.Fatal(err)
			}
			for got := 0; got < len(out); {
				n, err := pull.RecvMsgs(in, 0)
				if err != nil {
					t.Fatal(err)
				}
				got += n
			}
			one.SetBytes(body)
			if err := push.SendMsg(&one, 0); err != nil {
				t.Fatal(err)
			}
			if err := pull.RecvMsg(&one, 0); err != nil {
				t.Fatal(err)
			}
		}
		round()
		assert.Zero(t, testing.AllocsPerRun(50, round), "Go allocations per round of %d B frames", size)
	}
}
