package mdp

import (
	"context"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
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

// WithClientObserver reports what the client does to o (package
// observe): attempts, failed attempts, stale replies, resets and
// give-ups, as reliable.Client does (see reliable.ClientEvent.Observed).
func WithClientObserver(o observe.Observer) ClientOption {
	return func(c *clientConfig) error { c.observer = o; return nil }
}

// WithWorkerObserver reports what the worker does to o (package
// observe): each handler run (KindHandled, and KindPanic,
// KindHandlerError or KindHandlerTimeout for those outcomes), brokers
// coming up (KindPeerUp) and lost (KindPeerDown, Name "lost" or
// "disconnected"), and reconnects (KindConnectRetried). Endpoint is the
// broker's.
func WithWorkerObserver(o observe.Observer) WorkerOption {
	return func(c *workerConfig) error { c.Observer = o; return nil }
}

func (c *Client) observe(ev reliable.ClientEvent) {
	if out, ok := ev.Observed(); ok {
		c.cfg.observer.Observe(context.Background(), out)
	}
}

func (w *Worker) observe(ev WorkerEvent) {
	out := observe.Event{Component: observe.Worker, Endpoint: ev.Broker, Attempt: ev.Attempt, Elapsed: ev.Delay}
	switch ev.Kind {
	case WorkerConnected:
		out.Kind = observe.KindPeerUp
	case WorkerBrokerLost:
		out.Kind, out.Name = observe.KindPeerDown, "lost"
	case WorkerDisconnected:
		out.Kind, out.Name = observe.KindPeerDown, "disconnected"
	case WorkerReconnectWait:
		out.Kind = observe.KindConnectRetried
	default:
		return
	}
	w.cfg.Observer.Observe(context.Background(), out)
}
