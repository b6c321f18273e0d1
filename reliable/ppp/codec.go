package ppp

import (
	"errors"
	"fmt"
)

// The Paranoid Pirate Protocol's control messages (ZeroMQ RFC 6, zguide
// chapter 4): a worker announces itself with READY and both sides send
// HEARTBEAT over idle links. Each is one frame of one byte, after any
// routing envelope (a ROUTER prepends the peer's identity). Any other
// message, of more than one frame, is a request or a reply.
const (
	// ReadyByte is the byte of the READY frame, sent by a worker to its
	// queue when it connects.
	ReadyByte byte = 0x01
	// HeartbeatByte is the byte of the HEARTBEAT frame, sent in both
	// directions.
	HeartbeatByte byte = 0x02
)

// Command is the kind of a Paranoid Pirate message.
type Command int

const (
	// CommandRequest is a message of more than one frame: a request from
	// the queue to a worker or a reply from the worker.
	CommandRequest Command = iota
	// CommandReady is the one-frame READY message.
	CommandReady
	// CommandHeartbeat is the one-frame HEARTBEAT message.
	CommandHeartbeat
)

// String returns "request", "ready", "heartbeat" or "Command(n)".
func (c Command) String() string {
	switch c {
	case CommandRequest:
		return "request"
	case CommandReady:
		return "ready"
	case CommandHeartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("Command(%d)", int(c))
}

// ErrMalformed is matched by every error about a message that does not
// follow the Paranoid Pirate Protocol (see *MalformedError).
var ErrMalformed = errors.New("reliable: malformed Paranoid Pirate message")

// MalformedError describes a message that is not a valid Paranoid Pirate
// message. It matches ErrMalformed with errors.Is.
type MalformedError struct {
	// Frames is the number of frames of the message (after the envelope).
	Frames int
	// Reason says what is wrong.
	Reason string
}

// Error describes the malformed Paranoid Pirate message.
func (e *MalformedError) Error() string {
	return fmt.Sprintf("reliable: malformed Paranoid Pirate message (%d frames): %s", e.Frames, e.Reason)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// ReadyMessage returns a new READY message: one frame, 0x01.
func ReadyMessage() [][]byte { return [][]byte{{ReadyByte}} }

// HeartbeatMessage returns a new HEARTBEAT message: one frame, 0x02.
func HeartbeatMessage() [][]byte { return [][]byte{{HeartbeatByte}} }

// Parse classifies msg, the frames after any routing envelope. A single
// frame must be READY or HEARTBEAT; two or more frames are a request or
// reply, returned as CommandRequest without looking inside. An empty
// message or an unknown single frame is a *MalformedError.
func Parse(msg [][]byte) (Command, error) {
	switch len(msg) {
	case 0:
		return 0, &MalformedError{Frames: 0, Reason: "empty message"}
	case 1:
		f := msg[0]
		if len(f) == 1 {
			switch f[0] {
			case ReadyByte:
				return CommandReady, nil
			case HeartbeatByte:
				return CommandHeartbeat, nil
			}
		}
		const maxShown = 16
		shown := f
		if len(shown) > maxShown {
			shown = shown[:maxShown]
		}
		return 0, &MalformedError{Frames: 1, Reason: fmt.Sprintf("unknown command frame %x (length %d)", shown, len(f))}
	}
	return CommandRequest, nil
}
