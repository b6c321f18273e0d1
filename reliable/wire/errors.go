package wire

import (
	"errors"
	"fmt"
)

// ErrMalformed is matched by every error about bytes that do not follow
// the protocol (see *MalformedError).
var ErrMalformed = errors.New("reliable: malformed message")

// MalformedError describes a message that does not follow the protocol.
type MalformedError struct {
	What string // what was wrong, e.g. "ID frame length 7"
}

// Error describes what was malformed.
func (e *MalformedError) Error() string { return "reliable: malformed message: " + e.What }

// Is makes every MalformedError match ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, a ...any) error {
	return &MalformedError{What: fmt.Sprintf(format, a...)}
}
