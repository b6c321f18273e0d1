package option

import (
	"errors"
	"fmt"

	"github.com/zmqguard/zmqguard/zmq"
)

// Apply applies opts to cfg in order. A nil option is refused with
// zmq.ErrNilOption (an *zmq.OptionError whose Option is "<nil>"), and an
// option's error that is not already an *zmq.OptionError (as errors.As
// sees it) is wrapped in one, named by the option's position ("#2" for
// the second), so that errors.As(err, new(*zmq.OptionError)) is true of
// every refusal. Every option is tried, so the error reports every
// invalid one: it is the one refusal itself, or their errors.Join.
// Options after a refused one still run on cfg, which the caller
// discards.
func Apply[C any, O ~func(*C) error](cfg *C, opts []O) error {
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, zmq.ErrNilOption)
			continue
		}
		if err := o(cfg); err != nil {
			errs = append(errs, typed(i, err))
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// typed returns err as it is when it is an *zmq.OptionError, else
// wrapped in one.
func typed(i int, err error) error {
	var oe *zmq.OptionError
	if errors.As(err, &oe) {
		return err
	}
	return &zmq.OptionError{Option: fmt.Sprintf("#%d", i+1), Reason: err.Error(), Err: err}
}
