package heartbeat

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// nopSink is a Sink that ignores everything.
type nopSink struct{}

func (nopSink) Track(string)    {}
func (nopSink) Observe(string)  {}
func (nopSink) Sent(string)     {}
func (nopSink) MarkDead(string) {}

// TestOptionErrorsAreTyped: every constructor refuses a nil option, and
// every option an invalid value, with an error that errors.As finds a
// *zmq.OptionError in.
func TestOptionErrorsAreTyped(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	newTr := func(o Option) error {
		tr, err := New(o)
		if err == nil {
			tr.Close()
		}
		return err
	}
	watch := func(o WatchOption) error {
		w, err := Watch(s, nopSink{}, o)
		if err == nil {
			w.Close()
		}
		return err
	}
	tests := []struct {
		name string
		err  error
		opt  string // the OptionError's Option
	}{
		{"New nil", newTr(nil), "<nil>"},
		{"WithPolicy", newTr(WithPolicy(Policy{Interval: -1})), "WithPolicy"},
		{"WithPolicy suspect", newTr(WithPolicy(Policy{Liveness: 2, SuspectAfter: 3})), "WithPolicy"},
		{"WithEventBuffer", newTr(WithEventBuffer(0)), "WithEventBuffer"},
		{"WithOnChange", newTr(WithOnChange(nil)), "WithOnChange"},
		{"Watch nil", watch(nil), "<nil>"},
		{"WithPeerName", watch(WithPeerName(nil)), "WithPeerName"},
		{"WithRefresh", watch(WithRefresh(0)), "WithRefresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var oe *zmq.OptionError
			require.True(t, errors.As(tt.err, &oe), "%v", tt.err)
			assert.Equal(t, tt.opt, oe.Option)
		})
	}
	// Several refusals are all reported, each typed.
	_, err := New(WithEventBuffer(0), nil)
	assert.ErrorIs(t, err, zmq.ErrNilOption)
	assert.ErrorContains(t, err, "WithEventBuffer")
}
