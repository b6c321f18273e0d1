package wire_test

import (
	"fmt"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// A server's side of one request: take the ROUTER message apart, answer
// it with an error reply, and read the reply back as the client does.
func Example() {
	id := wire.RequestID{Client: 0xfeed, Seq: 7, Attempt: 2}
	msg := [][]byte{[]byte("peer"), id.AppendFrame(nil, wire.KindRequest), {}, []byte("get"), []byte("k")}

	req, ok := wire.ParseRouterMessage(msg)
	fmt.Println(ok, req.Correlated, req.ID, len(req.Body))

	reply := wire.Reply(req.Envelope, req.IDForm, wire.KindError, wire.EncodeErrorBody(wire.CodeHandler, "no such key"))
	// The ROUTER takes the routing id; the client's DEALER receives the rest.
	got, kind, _ := wire.ParseIDFrame(reply[1])
	code, message, _ := wire.ParseErrorBody(reply[3:])
	fmt.Println(got == id, string(kind), code, message)

	// A plain client sent no ID frame: a zmqguard one (its routing id says
	// so) gets the error in the plain form, a zguide peer gets none.
	zg := wire.ClientRoutingID(0xfeed, 1)
	plain, _ := wire.ParseRouterMessage([][]byte{zg, {}, []byte("get")})
	fmt.Printf("%q\n", wire.Reply(plain.Envelope, plain.IDForm, wire.KindError, wire.EncodeErrorBody(wire.CodeHandler, "no such key"))[1:])
	zguide, _ := wire.ParseRouterMessage([][]byte{[]byte("peer"), {}, []byte("get")})
	fmt.Println(wire.Reply(zguide.Envelope, zguide.IDForm, wire.KindError, wire.EncodeErrorBody(wire.CodeHandler, "no such key")) == nil)
	// Output:
	// true true 000000000000feed/7#2 2
	// true E handler no such key
	// ["" "ZGERR" "handler" "no such key"]
	// true
}
