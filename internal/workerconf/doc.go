// Package workerconf is the configuration that the Paranoid Pirate and
// Majordomo workers share: the same knobs, checked the same way. Each
// package keeps its own option names, defaults and docs, and reports a
// rejected value as a *zmq.OptionError under its option's name (Check).
//
// A Config is built once, by a constructor's options, and only read
// afterwards; it is not safe for concurrent changes.
package workerconf
