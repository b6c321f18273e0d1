package timeout

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/zmqguard/zmqguard/zmq"
)

// framesOf checks the parts of a message given to SendMessage or Request
// and returns them as parts that zmq.Socket.SendMessage sends without
// formatting: strings, []byte, []string and [][]byte as they are, numbers
// and bools formatted as fmt.Sprint formats them. Any other part is refused
// with zmq.ErrInvalidMessage before anything is sent.
//
// Why not any value, as pebbe/zmq4's SendMessage takes? Handing an
// arbitrary value on to fmt makes the compiler move every caller's parts,
// and the variadic slice holding them, to the heap: two allocations per
// call even for a single []byte. framesOf only ever copies the values out
// of the parts, so the parts stay on the caller's stack; it copies them
// into buf when they fit, so that a short message costs no allocation for
// the copy either (the caller keeps buf on its stack).
func framesOf(buf []any, parts []any) ([]any, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no frames", zmq.ErrInvalidMessage)
	}
	out := buf[:0]
	if cap(out) < len(parts) {
		out = make([]any, 0, len(parts))
	}
	out = out[:len(parts)]
	for i, p := range parts {
		// Each part is boxed anew, never copied as it is: a copy would let
		// the caller's parts escape, which costs every caller an
		// allocation, single-frame messages included.
		switch t := p.(type) {
		case string:
			out[i] = t
		case []byte:
			out[i] = t
		case []string:
			out[i] = t
		case [][]byte:
			out[i] = t
		case int:
			out[i] = strconv.FormatInt(int64(t), 10)
		case int8:
			out[i] = strconv.FormatInt(int64(t), 10)
		case int16:
			out[i] = strconv.FormatInt(int64(t), 10)
		case int32:
			out[i] = strconv.FormatInt(int64(t), 10)
		case int64:
			out[i] = strconv.FormatInt(t, 10)
		case uint:
			out[i] = strconv.FormatUint(uint64(t), 10)
		case uint8:
			out[i] = strconv.FormatUint(uint64(t), 10)
		case uint16:
			out[i] = strconv.FormatUint(uint64(t), 10)
		case uint32:
			out[i] = strconv.FormatUint(uint64(t), 10)
		case uint64:
			out[i] = strconv.FormatUint(t, 10)
		case uintptr:
			out[i] = strconv.FormatUint(uint64(t), 10)
		case float32:
			out[i] = strconv.FormatFloat(float64(t), 'g', -1, 32)
		case float64:
			out[i] = strconv.FormatFloat(t, 'g', -1, 64)
		case bool:
			out[i] = strconv.FormatBool(t)
		case nil:
			return nil, fmt.Errorf("%w: part %d is nil", zmq.ErrInvalidMessage, i)
		default:
			return nil, fmt.Errorf("%w: part %d is a %s; format it with fmt.Sprint first",
				zmq.ErrInvalidMessage, i, reflect.TypeOf(p))
		}
	}
	return out, nil
}
