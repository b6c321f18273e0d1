package hostile

import (
	"context"

	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Answer is the hostile server of the client-side tests: it answers every
// request that arrives on s, a ROUTER, with the request's envelope (an ID
// frame's kind set to 'R', as a zmqguard server's reply has it), the
// delimiter and the frames body returns for the request, right or wrong,
// until ctx ends or s fails. A message without a delimiter is ignored.
func Answer(ctx context.Context, s *zmq.Socket, body func(req [][]byte) [][]byte) error {
	for {
		msg, err := timeout.RecvMessageBytes(ctx, s)
		if err != nil {
			return err
		}
		env, _, ok := wire.SplitEnvelope(msg)
		if !ok {
			continue
		}
		b := body(msg)
		if id, _, err := wire.ParseIDFrame(env[len(env)-1]); err == nil {
			env[len(env)-1] = id.AppendFrame(nil, wire.KindReply)
		}
		if err := timeout.SendMessage(ctx, s, append(append(env, []byte{}), b...)); err != nil {
			return err
		}
	}
}
