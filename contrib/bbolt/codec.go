package bbolt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errCorrupt is the error of a record that does not decode.
var errCorrupt = errors.New("bbolt: corrupt record")

func corrupt(what string) error { return fmt.Errorf("%w: %s", errCorrupt, what) }

// appendFrames appends frames as a count and length-prefixed frames.
func appendFrames(dst []byte, frames [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(frames)))
	for _, f := range frames {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// readFrames decodes what appendFrames wrote, copying the bytes (bbolt's
// memory is valid only within its transaction).
func readFrames(b []byte) ([][]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, corrupt("frame count")
	}
	b = b[k:]
	frames := make([][]byte, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, nil, corrupt("frame length")
		}
		b = b[k:]
		frames = append(frames, append([]byte{}, b[:l]...))
		b = b[l:]
	}
	return frames, b, nil
}

// appendString appends s with its length.
func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func readString(b []byte) (string, []byte, error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return "", nil, corrupt("string length")
	}
	return string(b[k : k+int(l)]), b[k+int(l):], nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
