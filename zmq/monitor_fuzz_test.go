package zmq

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// FuzzParseMonitorEvent feeds arbitrary two-part (and other) messages to the
// monitor's event decoder, which reads what libzmq sends on the monitor's
// PAIR socket. Frames are encoded as a length byte and up to that many
// bytes. No input may panic; a decoded event holds exactly the header's
// fields and the address frame, nothing more.
func FuzzParseMonitorEvent(f *testing.F) {
	hdr := func(ev uint16, val int32) []byte {
		b := binary.LittleEndian.AppendUint16(nil, ev)
		return binary.LittleEndian.AppendUint32(b, uint32(val))
	}
	join := func(frames ...[]byte) []byte {
		var out []byte
		for _, fr := range frames {
			out = append(out, byte(len(fr)))
			out = append(out, fr...)
		}
		return out
	}
	f.Add(join(hdr(uint16(EVENT_CONNECTED), 12), []byte("tcp://127.0.0.1:5555")))
	f.Add(join(hdr(uint16(EVENT_DISCONNECTED), -1), []byte("tcp://[::1]:1")))
	f.Add(join(hdr(uint16(EVENT_MONITOR_STOPPED), 0), nil))
	f.Add(join(hdr(0xffff, -2147483648), []byte("x")))
	f.Add(join([]byte{1, 2, 3}, []byte("short header")))
	f.Add(join(hdr(1, 1)))
	f.Add(join(hdr(1, 1), nil, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg [][]byte
		for d := data; len(d) > 0; {
			n := min(int(d[0]), len(d)-1)
			msg = append(msg, d[1:1+n])
			d = d[1+n:]
		}
		ev, ok := parseMonitorEvent(msg)
		if !ok {
			if len(msg) == 2 && len(msg[0]) == 6 {
				t.Fatalf("a well-formed event refused: %x", msg)
			}
			if ev != (MonitorEvent{}) {
				t.Fatalf("refused with a non-zero event %+v", ev)
			}
			return
		}
		if len(msg) != 2 || len(msg[0]) != 6 {
			t.Fatalf("accepted %d frames", len(msg))
		}
		if uint16(ev.Event) != binary.LittleEndian.Uint16(msg[0]) ||
			int32(ev.Value) != int32(binary.LittleEndian.Uint32(msg[0][2:])) {
			t.Fatalf("header %x decoded as %+v", msg[0], ev)
		}
		if !bytes.Equal([]byte(ev.Addr), msg[1]) {
			t.Fatalf("address %q from %q", ev.Addr, msg[1])
		}
		// One allocation at most: the address string. AllocsPerRun stops
		// the world, so only one input in 32 is measured.
		if monitorAllocSample.Add(1)%32 != 1 {
			return
		}
		if allocs := testing.AllocsPerRun(10, func() { _, _ = parseMonitorEvent(msg) }); allocs > 1 {
			t.Fatalf("parseMonitorEvent allocates %v times", allocs)
		}
	})
}

var monitorAllocSample atomic.Uint64
