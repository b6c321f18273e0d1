package zmq

import zmq4 "github.com/pebbe/zmq4"

// The metadata receives wait like RecvBytes (netpoller, exact timeout),
// then read the frame and its properties through pebbe/zmq4 without
// blocking.

func (s *Socket) recvRaw(flags Flag, f func(raw *zmq4.Socket, flags zmq4.Flag) error) error {
	lim := s.recvLimit()
	return wrapErr(s.core.RecvRaw(&lim, flags, f))
}

// RecvWithMetadata receives a frame as a string with the requested
// metadata properties.
func (s *Socket) RecvWithMetadata(flags Flag, properties ...string) (msg string, metadata map[string]string, err error) {
	err = s.recvRaw(flags, func(raw *zmq4.Socket, fl zmq4.Flag) (e error) {
		msg, metadata, e = raw.RecvWithMetadata(fl, properties...)
		return e
	})
	return msg, metadata, err
}

// RecvBytesWithMetadata receives a frame with the requested metadata
// properties.
func (s *Socket) RecvBytesWithMetadata(flags Flag, properties ...string) (msg []byte, metadata map[string]string, err error) {
	err = s.recvRaw(flags, func(raw *zmq4.Socket, fl zmq4.Flag) (e error) {
		msg, metadata, e = raw.RecvBytesWithMetadata(fl, properties...)
		return e
	})
	return msg, metadata, err
}

// RecvMessageWithMetadata receives a whole message as strings with the
// requested metadata properties.
func (s *Socket) RecvMessageWithMetadata(flags Flag, properties ...string) (msg []string, metadata map[string]string, err error) {
	err = s.recvRaw(flags, func(raw *zmq4.Socket, fl zmq4.Flag) (e error) {
		msg, metadata, e = raw.RecvMessageWithMetadata(fl, properties...)
		return e
	})
	return msg, metadata, err
}

// RecvMessageBytesWithMetadata receives a whole message with the requested
// metadata properties.
func (s *Socket) RecvMessageBytesWithMetadata(flags Flag, properties ...string) (msg [][]byte, metadata map[string]string, err error) {
	err = s.recvRaw(flags, func(raw *zmq4.Socket, fl zmq4.Flag) (e error) {
		msg, metadata, e = raw.RecvMessageBytesWithMetadata(fl, properties...)
		return e
	})
	return msg, metadata, err
}
