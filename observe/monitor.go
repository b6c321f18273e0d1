package observe

import "github.com/zmqguard/zmqguard/zmq"

// MonitorEvents are the libzmq monitor events FromMonitor reports:
// connections made, accepted and lost, reconnects and failed handshakes.
// A component with an Observer adds them to what its monitor watches.
const MonitorEvents = zmq.EVENT_CONNECTED | zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED |
	zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL |
	zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH

// FromMonitor returns the Event that reports a libzmq monitor event seen
// by component c, or false for an event it does not report (see
// MonitorEvents). Endpoint is the event's address.
func FromMonitor(c Component, ev zmq.MonitorEvent) (Event, bool) {
	out := Event{Component: c, Endpoint: ev.Addr}
	switch ev.Event {
	case zmq.EVENT_CONNECTED:
		out.Kind = KindConnected
	case zmq.EVENT_ACCEPTED:
		out.Kind = KindAccepted
	case zmq.EVENT_DISCONNECTED:
		out.Kind = KindDisconnected
	case zmq.EVENT_CONNECT_RETRIED:
		out.Kind = KindConnectRetried
	case zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		out.Kind, out.Name = KindHandshakeFailed, "no_detail"
	case zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
		out.Kind, out.Name = KindHandshakeFailed, "protocol"
	case zmq.EVENT_HANDSHAKE_FAILED_AUTH:
		out.Kind, out.Name = KindHandshakeFailed, "auth"
	default:
		return out, false
	}
	return out, true
}
