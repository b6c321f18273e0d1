package bstar_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zmqguard/zmqguard/reliable/bstar"
)

func TestStep(t *testing.T) {
	const (
		P, B                   = bstar.Primary, bstar.Backup
		sP, sB, sA, sS         = bstar.StatePrimary, bstar.StateBackup, bstar.StateActive, bstar.StatePassive
		iP, iB, iA, iS, client = bstar.PeerPrimary, bstar.PeerBackup, bstar.PeerActive, bstar.PeerPassive, bstar.ClientRequest
	)
	cases := []struct {
		role     bstar.Role
		s        bstar.State
		in       bstar.Input
		silent   bool
		next     bstar.State
		accepted bool
		err      error
	}{
		// Start-up.
		{P, sP, iB, false, sA, false, nil},
		{P, sP, iA, false, sS, false, nil},
		{P, sP, iS, false, sP, false, nil},
		{P, sP, client, false, sP, true, nil}, // a lone primary serves
		{B, sB, iA, false, sS, false, nil},
		{B, sB, iS, false, sB, false, nil},
		{B, sB, iP, false, sB, false, nil}, // the primary goes active first
		{B, sB, client, true, sB, false, nil},
		// Active.
		{P, sA, client, false, sA, true, nil},
		{B, sA, iS, false, sA, false, nil},
		{B, sA, iP, false, sA, false, nil},
		{P, sA, iA, false, sA, false, bstar.ErrDualActive},
		{B, sA, iA, false, sA, false, bstar.ErrDualActive},
		// Passive.
		{B, sS, client, false, sS, false, nil}, // the split-brain rule
		{B, sS, client, true, sA, true, nil},   // failover
		{P, sS, client, true, sA, true, nil},
		{B, sS, iA, false, sS, false, nil},
		{B, sS, iP, false, sA, false, nil}, // the primary restarted
		{P, sS, iB, false, sA, false, nil}, // the backup restarted
		{B, sS, iS, false, sS, false, bstar.ErrDualPassive},
		// Misconfiguration.
		{P, sP, iP, false, sP, false, bstar.ErrSameRole},
		{B, sS, iB, false, sS, false, bstar.ErrSameRole},
	}
	for _, tc := range cases {
		next, ok, err := bstar.Step(tc.role, tc.s, tc.in, tc.silent)
		name := tc.role.String() + " " + tc.s.String() + " + " + tc.in.String()
		assert.Equal(t, tc.next, next, name)
		assert.Equal(t, tc.accepted, ok, name)
		assert.ErrorIs(t, err, tc.err, name)
		if tc.err == nil {
			assert.NoError(t, err, name)
		}
	}
}

func TestNames(t *testing.T) {
	assert.Equal(t, "primary", bstar.Primary.String())
	assert.Equal(t, "backup", bstar.Backup.String())
	assert.Equal(t, "Role(9)", bstar.Role(9).String())
	assert.Equal(t, "passive", bstar.StatePassive.String())
	assert.Equal(t, "State(0)", bstar.State(0).String())
	assert.Equal(t, "peer-active", bstar.PeerActive.String())
	assert.Equal(t, "client-request", bstar.ClientRequest.String())
	assert.Equal(t, "Input(9)", bstar.Input(9).String())
	ev := bstar.Event{From: bstar.StatePassive, To: bstar.StateActive, Input: bstar.ClientRequest}
	assert.Equal(t, "passive -> active on client-request", ev.String())
	ev = bstar.Event{From: bstar.StateActive, To: bstar.StateActive, Input: bstar.PeerActive, Err: bstar.ErrDualActive}
	assert.Contains(t, ev.String(), "split brain")
}
