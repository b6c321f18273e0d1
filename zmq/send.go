package zmq

import "fmt"

// Send sends a frame from a string. Without DONTWAIT it blocks for at most
// the send timeout (SetSndtimeo). It returns the number of bytes sent.
func (s *Socket) Send(data string, flags Flag) (int, error) {
	lim := s.sendLimit()
	if err := s.core.SendFrame(&lim, data, nil, true, flags); err != nil {
		return -1, err
	}
	return len(data), nil
}

// SendBytes sends a frame. Without DONTWAIT it blocks for at most the send
// timeout (SetSndtimeo). It returns the number of bytes sent.
func (s *Socket) SendBytes(data []byte, flags Flag) (int, error) {
	lim := s.sendLimit()
	if err := s.core.SendFrame(&lim, "", data, false, flags); err != nil {
		return -1, err
	}
	return len(data), nil
}

// SendMessage sends a multipart message, atomically as far as the
// application can see. Each part is a string, a []byte, a []string or a
// [][]byte (each element a frame), or any other non-nil value, sent as
// fmt.Sprint would print it. All parts are checked before the first frame
// is sent; a message that cannot be sent at all (timeout, HWM) leaves
// nothing behind. If a later frame fails, the socket reports
// ErrPartialMessage and refuses further sends until Reset. It returns the
// number of bytes sent, or -1 on error.
func (s *Socket) SendMessage(parts ...interface{}) (int, error) {
	lim := s.sendLimit()
	return s.core.SendMessage(&lim, 0, parts)
}

// SendMessageDontwait is SendMessage with DONTWAIT: it fails with EAGAIN,
// sending nothing, when the message cannot be queued at once.
func (s *Socket) SendMessageDontwait(parts ...interface{}) (int, error) {
	lim := s.sendLimit()
	return s.core.SendMessage(&lim, DONTWAIT, parts)
}

// PartialMessageError reports a multipart send that failed after Sent of
// its Frames frames were queued. It matches ErrPartialMessage and wraps the
// cause.
type PartialMessageError struct {
	Sent, Frames int
	Err          error
}

// Error says which frame of how many failed, and why.
func (e *PartialMessageError) Error() string {
	return fmt.Sprintf("%v (%d of %d frames queued: %v)", ErrPartialMessage, e.Sent, e.Frames, e.Err)
}

// Unwrap returns ErrPartialMessage and the cause.
func (e *PartialMessageError) Unwrap() []error { return []error{ErrPartialMessage, e.Err} }
