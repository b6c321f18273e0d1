package mdp

import (
	"errors"
	"fmt"
)

// The protocol headers of ZeroMQ RFC 7, MDP/0.1: the second frame of every
// client and worker message.
const (
	// ClientHeader is the header of MDP/Client messages.
	ClientHeader = "MDPC01"
	// WorkerHeader is the header of MDP/Worker messages.
	WorkerHeader = "MDPW01"
)

// MaxServiceName bounds a service name, in bytes. RFC 7 sets no bound; a
// broker refuses longer names (a client request with one is malformed,
// a worker announcing one is disconnected).
const MaxServiceName = 255

// The Majordomo Management Interface, ZeroMQ RFC 8: services whose names
// start with MMIPrefix are answered by the broker itself.
const (
	// MMIPrefix starts the name of every management service. A worker may
	// not register a service with this prefix.
	MMIPrefix = "mmi."
	// MMIService asks whether a service has workers: the request body is
	// the service name, the reply body MMIFound or MMINotFound.
	MMIService = "mmi.service"
	// MMIFound: the service has at least one worker.
	MMIFound = "200"
	// MMINotFound: the service has no worker.
	MMINotFound = "404"
	// MMINotImplemented answers a management service the broker does not
	// know.
	MMINotImplemented = "501"
)

// Command is an MDP/Worker command: the third frame of a worker message.
type Command byte

// The MDP/Worker commands (RFC 7).
const (
	// CommandReady: a worker announces its service (worker to broker).
	CommandReady Command = 0x01
	// CommandRequest: a request for the worker (broker to worker).
	CommandRequest Command = 0x02
	// CommandReply: the worker's reply (worker to broker).
	CommandReply Command = 0x03
	// CommandHeartbeat: proof of life, both ways.
	CommandHeartbeat Command = 0x04
	// CommandDisconnect: the sender ends the connection, both ways.
	CommandDisconnect Command = 0x05
)

var commandNames = map[Command]string{
	CommandReady: "ready", CommandRequest: "request", CommandReply: "reply",
	CommandHeartbeat: "heartbeat", CommandDisconnect: "disconnect",
}

// String names the command.
func (c Command) String() string {
	if n, ok := commandNames[c]; ok {
		return n
	}
	return fmt.Sprintf("Command(%#02x)", byte(c))
}

// ErrMalformed is matched by every error about a message that does not
// follow MDP/0.1 (see *MalformedError).
var ErrMalformed = errors.New("mdp: malformed message")

// MalformedError describes a message that does not follow MDP/0.1. It
// matches ErrMalformed.
type MalformedError struct {
	Reason string // what is wrong
}

// Error describes the malformed message.
func (e *MalformedError) Error() string { return "mdp: malformed message: " + e.Reason }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, a ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, a...)}
}

// WorkerMessage is an MDP/Worker message, as the frames after the empty
// frame and the header.
type WorkerMessage struct {
	// Command is the message's command.
	Command Command
	// Service is READY's service name.
	Service string
	// Client is the client address of a REQUEST or REPLY: a frame the
	// broker chooses and the worker sends back unchanged.
	Client []byte
	// Body is the request or reply body of a REQUEST or REPLY. An empty
	// body is sent as one empty frame.
	Body [][]byte
}

// Frames encodes m as a worker socket sends it and receives it (a DEALER,
// so without a routing id): ["", "MDPW01", command, ...]. Frames of m are
// shared, not copied.
func (m WorkerMessage) Frames() [][]byte {
	head := [][]byte{{}, []byte(WorkerHeader), {byte(m.Command)}}
	switch m.Command {
	case CommandReady:
		return append(head, []byte(m.Service))
	case CommandRequest, CommandReply:
		return append(append(head, m.Client, []byte{}), nonEmpty(m.Body)...)
	}
	return head
}

// nonEmpty returns body, or one empty frame for an empty body.
func nonEmpty(body [][]byte) [][]byte {
	if len(body) == 0 {
		return [][]byte{{}}
	}
	return body
}

// ParseWorkerMessage decodes msg, a worker message without routing id:
// ["", "MDPW01", command, ...]. It checks the frames each command has in
// RFC 7: READY one service name (1 to MaxServiceName bytes), REQUEST and
// REPLY a client address, an empty frame and at least one body frame,
// HEARTBEAT and DISCONNECT nothing more. The result shares msg's frames.
func ParseWorkerMessage(msg [][]byte) (WorkerMessage, error) {
	if len(msg) < 3 || len(msg[0]) != 0 || string(msg[1]) != WorkerHeader || len(msg[2]) != 1 {
		return WorkerMessage{}, malformed("not an MDP/Worker message (%d frames)", len(msg))
	}
	m := WorkerMessage{Command: Command(msg[2][0])}
	rest := msg[3:]
	switch m.Command {
	case CommandReady:
		if len(rest) != 1 || len(rest[0]) == 0 || len(rest[0]) > MaxServiceName {
			return WorkerMessage{}, malformed("READY needs one service name of 1 to %d bytes", MaxServiceName)
		}
		m.Service = string(rest[0])
	case CommandRequest, CommandReply:
		if len(rest) < 3 || len(rest[1]) != 0 {
			return WorkerMessage{}, malformed("%v needs [client, \"\", body...]", m.Command)
		}
		m.Client, m.Body = rest[0], rest[2:]
	case CommandHeartbeat, CommandDisconnect:
		if len(rest) != 0 {
			return WorkerMessage{}, malformed("%v with %d extra frames", m.Command, len(rest))
		}
	default:
		return WorkerMessage{}, malformed("unknown command %v", m.Command)
	}
	return m, nil
}

// ClientRequest encodes a client request as a client socket sends it (a
// DEALER emulating REQ): ["", "MDPC01", service, body...]. An empty body
// is sent as one empty frame. Frames of body are shared, not copied.
func ClientRequest(service string, body [][]byte) [][]byte {
	return append([][]byte{{}, []byte(ClientHeader), []byte(service)}, nonEmpty(body)...)
}

// ParseClientMessage decodes a client request or reply without routing
// id, ["", "MDPC01", service, body...], with a service name of 1 to
// MaxServiceName bytes and at least one body frame. The result shares
// msg's frames.
func ParseClientMessage(msg [][]byte) (service string, body [][]byte, err error) {
	if len(msg) < 4 || len(msg[0]) != 0 || string(msg[1]) != ClientHeader {
		return "", nil, malformed("not an MDP/Client message (%d frames)", len(msg))
	}
	if n := len(msg[2]); n == 0 || n > MaxServiceName {
		return "", nil, malformed("service name of %d bytes", n)
	}
	return string(msg[2]), msg[3:], nil
}
