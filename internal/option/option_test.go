package option

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/zmq"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type config struct{ a, b int }

type opt func(*config) error

func setA(v int) opt {
	return func(c *config) error {
		if v < 0 {
			return &zmq.OptionError{Option: "setA", Reason: "negative"}
		}
		c.a = v
		return nil
	}
}

func setB(v int) opt {
	return func(c *config) error {
		if v < 0 {
			return errors.New("b is negative") // untyped: Apply wraps it
		}
		c.b = v
		return nil
	}
}

func TestApply(t *testing.T) {
	var c config
	require.NoError(t, Apply(&c, []opt{setA(1), setB(2), setA(3)}))
	assert.Equal(t, config{a: 3, b: 2}, c, "in order, the last one wins")
	require.NoError(t, Apply(&c, []opt(nil)))

	var oe *zmq.OptionError
	err := Apply(&c, []opt{setA(-1)})
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "setA", oe.Option)

	err = Apply(&c, []opt{setA(1), setB(-1)})
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "#2", oe.Option)
	assert.Equal(t, "b is negative", oe.Reason)

	err = Apply(&c, []opt{nil})
	require.ErrorIs(t, err, zmq.ErrNilOption)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "<nil>", oe.Option)

	// Every refusal is reported.
	err = Apply(&c, []opt{setB(-1), nil, setA(-2)})
	require.ErrorAs(t, err, &oe)
	assert.ErrorIs(t, err, zmq.ErrNilOption)
	assert.ErrorContains(t, err, "b is negative")
	assert.ErrorContains(t, err, "setA")
}
