package bench

import (
	"fmt"
	"sync"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/zmq"
)

// msgBatch is how many frames the batched Msg variant moves per call into
// libzmq at most, and msgBatchBytes how many bytes: a batch of large
// frames keeps them all alive at once, which costs more than the calls it
// saves (64 frames of 64 KiB measured 0.47x of the C loop over inproc, one
// at a time 0.70x), while small frames gain from long batches (16 B over
// tcp: 0.66-0.70x with 64 frames a call, 0.85-1.09x with 256).
const (
	msgBatch      = 256
	msgBatchBytes = 64 << 10
)

// measureMsgStream is measureStream for zmqguard's message API: a sender
// goroutine fills Msgs with SetBytes (a copy, like zmq_send's) and sends
// them batch at a time with SendMsgs (or one at a time with SendMsg); the
// caller receives them with RecvMsgs (or RecvMsg), without a copy over the
// copy threshold. Go allocations count both sides.
func measureMsgStream(push, pull *zmq.Socket, closeAll func(), size, n, batch int) (map[string]float64, error) {
	return measureMsgStreamTo(push, pull, closeAll, size, n, batch, nil)
}

// measureMsgStreamTo is measureMsgStream with the receives made by
// take when it is not nil (the lab's receiving pthread): take returns
// how many of at most want frames it took, waiting for the first.
func measureMsgStreamTo(push, pull *zmq.Socket, closeAll func(), size, n, batch int, take func(want int) (int, error)) (map[string]float64, error) {
	closeAll = sync.OnceFunc(closeAll) // also what ends a blocked sender
	defer closeAll()
	body := make([]byte, size)
	out := make([]zmq.Msg, batch)
	in := make([]zmq.Msg, batch)
	defer func() {
		for i := range out {
			out[i].Close()
			in[i].Close()
		}
	}()
	fill := func(m *zmq.Msg) error { return m.SetBytes(body) }
	send := func(count int) error {
		ms := out[:count]
		for i := range ms {
			if err := fill(&ms[i]); err != nil {
				return err
			}
		}
		if batch == 1 {
			return push.SendMsg(&ms[0], 0)
		}
		_, err := push.SendMsgs(ms, 0)
		return err
	}
	recv := func(want int) (int, error) {
		if take != nil {
			return take(min(want, batch))
		}
		if batch == 1 {
			return 1, pull.RecvMsg(&in[0], 0)
		}
		return pull.RecvMsgs(in[:min(want, batch)], 0)
	}
	// Give every Msg its C memory before the clock starts (a one-off
	// allocation each), then warm up with one message through the path.
	for i := range out {
		out[i].SetBytes(nil)
		in[i].SetBytes(nil)
	}
	if err := send(1); err != nil {
		return nil, err
	}
	if _, err := recv(1); err != nil {
		return nil, err
	}
	return timeStream(n, batch, send, recv, closeAll)
}

// msgPathRows compare zmqguard's message API with the C loop, the
// baseline of their ratios, and pebbe, over every transport and size.
func msgPathRows() []Row {
	var rows []Row
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		for _, size := range []int{16, 1024, 65536} {
			count := func(cfg *Config) int {
				switch size {
				case 16:
					return cfg.n(200000, 8000)
				case 1024:
					return cfg.n(100000, 4000)
				default:
					return cfg.n(10000, 300)
				}
			}
			guard := func(batch int) func(cfg *Config) (map[string]float64, error) {
				return func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
					if err != nil {
						return nil, err
					}
					return measureMsgStream(push, pull, cl, size, count(cfg), batch)
				}
			}
			rows = append(rows, Row{
				Name:     fmt.Sprintf("push-pull-msg/%s/%s", tr, sizeName(size)),
				Note:     "PUSH->PULL throughput with zmqguard's message API (zmq.Msg: frames over the copy threshold neither copied out on receive nor copied in Go on send), against the C loop as baseline; allocs/msg counts Go heap allocations of both sides",
				Metrics:  []Metric{{"msgs/s", true, 0}, {"allocs/msg", false, 0.5}},
				Baseline: "C libzmq (ceiling)",
				Variants: []Variant{
					{"C libzmq (ceiling)", func(cfg *Config) (map[string]float64, error) { return cCeiling(tr, size, count(cfg)) }},
					{"pebbe", func(cfg *Config) (map[string]float64, error) {
						pull, push, cl, err := pebbePair(tr, zmq4.PULL, zmq4.PUSH)
						if err != nil {
							return nil, err
						}
						return measureStream(pair{
							send:  func(m []byte) error { _, err := push.SendBytes(m, 0); return err },
							recv:  func() error { _, err := pull.RecvBytes(0); return err },
							close: cl,
						}, size, count(cfg))
					}},
					{"zmqguard Msg, RecvMsg/SendMsg", guard(1)},
					{"zmqguard Msg batches, RecvMsgs/SendMsgs", guard(max(1, min(msgBatch, msgBatchBytes/size)))},
				},
			})
		}
	}
	return rows
}

// thresholdRows measure where copying a frame stops being cheaper than
// not copying it, which is what zmq.DefaultCopyThreshold is set from: a
// receive into a Msg that keeps the frame as a view of libzmq's message
// against one that copies it into the Msg's buffer (and releases libzmq's
// message at once), and a send that pins the application's buffer
// (SendNoCopy) against one that copies it (SendBytes). Each variant sets
// its socket's copy threshold so that it takes its path at every size.
func thresholdRows() []Row {
	var rows []Row
	for _, tr := range []string{"inproc", "tcp"} {
		for _, size := range []int{64, 256, 1024, 4096, 16384, 65536} {
			n := func(cfg *Config) int { return cfg.n(max(5000, min(100000, 64<<20/size)), 300) }
			recvWith := func(threshold int) func(cfg *Config) (map[string]float64, error) {
				return func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
					if err != nil {
						return nil, err
					}
					if err := pull.SetCopyThreshold(threshold); err != nil {
						cl()
						return nil, err
					}
					var m zmq.Msg
					defer m.Close()
					return measureStream(pair{
						send:  func(b []byte) error { _, err := push.SendBytes(b, 0); return err },
						recv:  func() error { return pull.RecvMsg(&m, 0) },
						close: cl,
					}, size, n(cfg))
				}
			}
			sendWith := func(pinned bool) func(cfg *Config) (map[string]float64, error) {
				return func(cfg *Config) (map[string]float64, error) {
					pull, push, cl, err := guardPair(tr, zmq.PULL, zmq.PUSH)
					if err != nil {
						return nil, err
					}
					if err := push.SetNoCopyThreshold(1); err != nil {
						cl()
						return nil, err
					}
					var m zmq.Msg
					defer m.Close()
					// A ring of buffers: one is reused only once libzmq is
					// done with it, as an application would.
					const ring = 64
					bufs := make([][]byte, ring)
					tracks := make([]*zmq.Tracker, ring)
					for i := range bufs {
						bufs[i] = make([]byte, size)
					}
					i := 0
					send := func([]byte) error {
						if !pinned {
							_, err := push.SendBytes(bufs[0], 0)
							return err
						}
						k := i % ring
						i++
						if t := tracks[k]; t != nil {
							<-t.Done()
						}
						t, err := push.SendNoCopy(bufs[k], 0)
						tracks[k] = t
						return err
					}
					return measureStream(pair{
						send:  send,
						recv:  func() error { return pull.RecvMsg(&m, 0) },
						close: cl,
					}, size, n(cfg))
				}
			}
			rows = append(rows, Row{
				Name:     fmt.Sprintf("msg-threshold/%s/%s", tr, sizeName(size)),
				Note:     "where copying stops paying (zmq.DefaultCopyThreshold): PUSH->PULL throughput receiving into a zmq.Msg as a view of libzmq's message vs as a copy, and sending with SendNoCopy (pinned, tracked) vs SendBytes (copied); baseline: the copying receive",
				Metrics:  []Metric{{"msgs/s", true, 0}},
				Baseline: "RecvMsg, copy",
				Variants: []Variant{
					{"RecvMsg, copy", recvWith(size + 1)},
					{"RecvMsg, view", recvWith(1)},
					{"SendBytes (copy) + RecvMsg view", sendWith(false)},
					{"SendNoCopy (pinned) + RecvMsg view", sendWith(true)},
				},
			})
		}
	}
	return rows
}
