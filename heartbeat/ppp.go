package heartbeat

import (
	"errors"
	"fmt"
)

// Paranoid Pirate Protocol (ZeroMQ RFC 6, zguide chapter 4) control
// messages: a worker announces itself with READY and both sides send
// HEARTBEAT over idle links. Each is one frame of one byte, after any
// routing envelope (a ROUTER prepends the peer's identity). Any other
// message, of more than one frame, is a request or a reply.
const (
	// PPPReady is the byte of the READY frame, sent by a worker to its queue
	// when it connects.
	PPPReady byte = 0x01
	// PPPHeartbeat is the byte of the HEARTBEAT frame, sent in both
	// directions.
	PPPHeartbeat byte = 0x02
)

// PPPCommand is the kind of a Paranoid Pirate message.
type PPPCommand int

const (
	// PPPRequest is a message of more than one frame: a request from the
	// queue to a worker or a reply from the worker.
	PPPRequest PPPCommand = iota
	// PPPReadyCommand is the one-frame READY message.
	PPPReadyCommand
	// PPPHeartbeatCommand is the one-frame HEARTBEAT message.
	PPPHeartbeatCommand
)

// String returns "request", "ready", "heartbeat" or "PPPCommand(n)".
func (c PPPCommand) String() string {
	switch c {
	case PPPRequest:
		return "request"
	case PPPReadyCommand:
		return "ready"
	case PPPHeartbeatCommand:
		return "heartbeat"
	}
	return fmt.Sprintf("PPPCommand(%d)", int(c))
}

// ErrPPPMalformed is matched by every error about a message that does not
// follow the Paranoid Pirate Protocol (see *PPPError).
var ErrPPPMalformed = errors.New("heartbeat: malformed Paranoid Pirate message")

// PPPError describes a message that is not a valid Paranoid Pirate
// message. It matches ErrPPPMalformed with errors.Is.
type PPPError struct {
	// Frames is the number of frames of the message (after the envelope).
	Frames int
	// Reason says what is wrong.
	Reason string
}

// Error describes the malformed Paranoid Pirate message.
func (e *PPPError) Error() string {
	return fmt.Sprintf("heartbeat: malformed Paranoid Pirate message (%d frames): %s", e.Frames, e.Reason)
}

// Is makes errors.Is(err, ErrPPPMalformed) true.
func (e *PPPError) Is(target error) bool { return target == ErrPPPMalformed }

// PPPReadyMessage returns a new READY message: one frame, 0x01.
func PPPReadyMessage() [][]byte { return [][]byte{{PPPReady}} }

// PPPHeartbeatMessage returns a new HEARTBEAT message: one frame, 0x02.
func PPPHeartbeatMessage() [][]byte { return [][]byte{{PPPHeartbeat}} }

// ParsePPP classifies msg, the frames after any routing envelope. A single
// frame must be READY or HEARTBEAT; two or more frames are a request or
// reply, returned as PPPRequest without looking inside. An empty message or
// an unknown single frame is a *PPPError.
func ParsePPP(msg [][]byte) (PPPCommand, error) {
	switch len(msg) {
	case 0:
		return 0, &PPPError{Frames: 0, Reason: "empty message"}
	case 1:
		f := msg[0]
		if len(f) == 1 {
			switch f[0] {
			case PPPReady:
				return PPPReadyCommand, nil
			case PPPHeartbeat:
				return PPPHeartbeatCommand, nil
			}
		}
		const maxShown = 16
		shown := f
		if len(shown) > maxShown {
			shown = shown[:maxShown]
		}
		return 0, &PPPError{Frames: 1, Reason: fmt.Sprintf("unknown command frame %x (length %d)", shown, len(f))}
	}
	return PPPRequest, nil
}
