package reliable_test

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/zmqguard/zmqguard/internal/hostile"
	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// runHostileServer is a server process that answers every request wrongly,
// as ZG_HOSTILE says:
//
//   - "no-body": the envelope and the delimiter, and no body frame;
//   - "big-frame": one body frame of ZG_SIZE bytes;
//   - "many-frames": ZG_SIZE bytes in body frames of 1 MiB each;
//   - "big-frame-once": one body frame of ZG_SIZE bytes to the first
//     request, then the request's body (an echo).
//
// It answers on a ROUTER, echoing the request's envelope (a correlated
// client's ID frame comes back with kind 'R'), so it serves correlated and
// plain clients and REQ sockets alike.
func runHostileServer() error {
	mode := os.Getenv("ZG_HOSTILE")
	size, _ := strconv.Atoi(os.Getenv("ZG_SIZE"))
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	s, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		return err
	}
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		return err
	}
	var body [][]byte
	switch mode {
	case "no-body":
	case "big-frame", "big-frame-once":
		body = [][]byte{make([]byte, size)}
	case "many-frames":
		for left := size; left > 0; left -= 1 << 20 {
			body = append(body, make([]byte, min(left, 1<<20)))
		}
	default:
		return fmt.Errorf("unknown ZG_HOSTILE %q", mode)
	}
	testpeer.Ready(ep)
	n := 0
	return hostile.Answer(context.Background(), s, func(req [][]byte) [][]byte {
		testpeer.Executed(string(req[len(req)-1]))
		n++
		if mode == "big-frame-once" && n > 1 {
			_, b, _ := wire.SplitEnvelope(req)
			return b
		}
		return body
	})
}
