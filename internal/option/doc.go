// Package option applies functional options the same way in every
// zmqguard constructor: in order, each at most once, with every refusal an
// error for which errors.As(err, new(*zmq.OptionError)) is true.
//
// The package keeps no state and owns no goroutines; Apply is safe for
// concurrent use on distinct configurations.
package option
