package heartbeat

import (
	"context"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

// WithWatchObserver reports the socket's monitor events to o (package
// observe) as component c: connections made, accepted and lost,
// reconnects and failed handshakes (observe.FromMonitor). o must not be
// nil.
func WithWatchObserver(o observe.Observer, c observe.Component) WatchOption {
	return func(cfg *watchConfig) error {
		if o == nil {
			return optionError("WithWatchObserver", "nil observer")
		}
		cfg.obs, cfg.comp = o, c
		return nil
	}
}

func (w *Watcher) observe(ev zmq.MonitorEvent) {
	if out, ok := observe.FromMonitor(w.comp, ev); ok {
		w.obs.Observe(context.Background(), out)
	}
}

// ObserveTracker reports tr's peer state changes to o (package observe)
// as component c: to Alive is KindPeerUp, to Suspect KindPeerSuspect, to
// Dead KindPeerDown; Endpoint is the peer and Name the transition
// ("alive->suspect"). It returns the function that stops it (see
// Tracker.OnChange, which delivers the changes in order, off the
// tracker's lock).
func ObserveTracker(tr *Tracker, o observe.Observer, c observe.Component) (remove func()) {
	return tr.OnChange(func(ev Event) {
		out := observe.Event{Component: c, Endpoint: ev.Peer, Name: ev.From.String() + "->" + ev.To.String()}
		switch ev.To {
		case Alive:
			out.Kind = observe.KindPeerUp
		case Suspect:
			out.Kind = observe.KindPeerSuspect
		case Dead:
			out.Kind = observe.KindPeerDown
		default:
			return
		}
		o.Observe(context.Background(), out)
	})
}
