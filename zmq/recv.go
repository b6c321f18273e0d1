package zmq

import "github.com/zmqguard/zmqguard/internal/engine"

// Recv receives a frame as a string. Without DONTWAIT it blocks for at most
// the receive timeout (SetRcvtimeo), then returns a *TimeoutError.
func (s *Socket) Recv(flags Flag) (string, error) {
	b, err := s.RecvBytes(flags)
	return string(b), err
}

// RecvBytes receives a frame. Without DONTWAIT it blocks for at most the
// receive timeout (SetRcvtimeo), then returns a *TimeoutError.
func (s *Socket) RecvBytes(flags Flag) ([]byte, error) {
	lim := s.recvLimit()
	b, _, err := s.core.RecvFrame(&lim, flags)
	if err != nil {
		return []byte{}, err
	}
	return b, nil
}

// RecvMessage receives all frames of a message as strings.
func (s *Socket) RecvMessage(flags Flag) ([]string, error) {
	lim := s.recvLimit()
	return engine.Strings(s.core.RecvMessage(&lim, flags))
}

// RecvMessageBytes receives all frames of a message. libzmq delivers
// messages atomically: once the first frame is here, so are the rest.
func (s *Socket) RecvMessageBytes(flags Flag) ([][]byte, error) {
	lim := s.recvLimit()
	msg, err := s.core.RecvMessage(&lim, flags)
	if err != nil {
		return [][]byte{}, err
	}
	return msg, nil
}
