package zmq

import zmq4 "github.com/pebbe/zmq4"

// Type is a socket type (REQ, REP, DEALER, ...). It is pebbe/zmq4's type,
// so values pass freely between the two packages.
type Type = zmq4.Type

// Flag is a send or receive flag (DONTWAIT, SNDMORE).
type Flag = zmq4.Flag

// Event is a socket monitor event (EVENT_CONNECTED, ...).
type Event = zmq4.Event

// State is a set of poll events (POLLIN, POLLOUT).
type State = zmq4.State

// Mechanism is a security mechanism (NULL, PLAIN, CURVE, GSSAPI).
type Mechanism = zmq4.Mechanism
