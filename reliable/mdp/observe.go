package mdp

import (
	"context"

	"github.com/zmqguard/zmqguard/observe"
)

// WithBrokerObserver reports what the broker does to o (package
// observe): workers joining (KindWorkerJoined) and lost (KindWorkerLost,
// Name "expired" or "disconnected"), requests sent again
// (KindRequestRetried) and answered with an error (KindRequestFailed,
// Code). Endpoint is the worker's identity; the Event's Name is the
// service for the other kinds.
func WithBrokerObserver(o observe.Observer) BrokerOption {
	return func(c *brokerConfig) error { c.observer = o; return nil }
}

func (b *Broker) observe(ev BrokerEvent) {
	out := observe.Event{Component: observe.Broker, Endpoint: ev.Worker, Name: ev.Service, Code: ev.Code}
	switch ev.Kind {
	case BrokerWorkerJoined:
		out.Kind = observe.KindWorkerJoined
	case BrokerWorkerExpired:
		out.Kind, out.Name = observe.KindWorkerLost, "expired"
	case BrokerWorkerDisconnected:
		out.Kind, out.Name = observe.KindWorkerLost, "disconnected"
	case BrokerRequestRetried:
		out.Kind = observe.KindRequestRetried
	case BrokerRequestFailed:
		out.Kind = observe.KindRequestFailed
	default:
		return
	}
	b.cfg.observer.Observe(context.Background(), out)
}
