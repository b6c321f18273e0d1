package heartbeat

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Unknown, "unknown"},
		{Alive, "alive"},
		{Suspect, "suspect"},
		{Dead, "dead"},
		{State(7), "State(7)"},
		{State(-1), "State(-1)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.s.String())
	}
	var zero State
	assert.Equal(t, Unknown, zero)
}

func TestEventString(t *testing.T) {
	assert.Equal(t, "w1: alive -> suspect", Event{Peer: "w1", From: Alive, To: Suspect}.String())
}
