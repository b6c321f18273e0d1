package reliable

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Balancer chooses which endpoint of a Client gets an attempt. Whichever
// it is, only endpoints that are connected are chosen, and an attempt
// that is a retry goes to another endpoint than the previous attempt's
// whenever one is connected.
type Balancer int

const (
	// HealthFirst, the default, sends each attempt to the endpoint with
	// the fewest consecutive failures, then the one least recently used:
	// failover in order of health, which spreads load too while all are
	// healthy.
	HealthFirst Balancer = iota
	// RoundRobin takes the healthy endpoints in turn.
	RoundRobin
	// LeastOutstanding sends each attempt to the healthy endpoint with
	// the fewest attempts in flight (ties in turn), so that a slow
	// replica gets less.
	LeastOutstanding
)

// HealthProbation is how long an endpoint whose last attempt failed (no
// reply, or an overloaded or shutdown answer) is skipped by the RoundRobin and LeastOutstanding balancers while another
// connected endpoint is healthy; after it, the endpoint is tried again
// and recovers with its first success.
const HealthProbation = time.Second

// String names the balancer.
func (b Balancer) String() string {
	switch b {
	case HealthFirst:
		return "health-first"
	case RoundRobin:
		return "round-robin"
	case LeastOutstanding:
		return "least-outstanding"
	}
	return fmt.Sprintf("Balancer(%d)", int(b))
}

// WithBalancer sets how attempts are spread over the endpoints
// (HealthFirst by default).
func WithBalancer(b Balancer) ClientOption {
	return func(c *clientConfig) error {
		if b < HealthFirst || b > LeastOutstanding {
			return optionError("WithBalancer", fmt.Sprintf("unknown balancer %d", int(b)))
		}
		c.balancer = b
		return nil
	}
}

// pick chooses the endpoint for an attempt among eps (the client's
// resolved set instead, when it has one) with the client's balancer, and
// returns it with the life of its connection; nil when none is up, in
// which case a resolved client asks for a new resolution.
func (c *Client) pick(eps []*endpoint, avoid *endpoint) (*endpoint, context.Context) {
	if c.set != nil {
		eps = c.set.current()
	}
	var ep *endpoint
	var life context.Context
	if c.cfg.balancer == HealthFirst {
		ep, life = pickUp(eps, avoid)
	} else {
		ep, life = c.pickBalanced(eps, avoid)
	}
	if ep == nil && c.set != nil {
		c.set.resolveNow()
	}
	return ep, life
}

// pickBalanced is pick for RoundRobin and LeastOutstanding: among the
// connected endpoints it prefers, in order, one that is healthy and not
// avoid, then one that is healthy, then any not avoid, then avoid.
func (c *Client) pickBalanced(eps []*endpoint, avoid *endpoint) (*endpoint, context.Context) {
	n := len(eps)
	if n == 0 {
		return nil, nil
	}
	start := int(c.rr.Add(1) % uint64(n))
	now := time.Now()
	var best *endpoint
	var bLife context.Context
	bRank, bLoad := 4, int64(0)
	for i := range n {
		ep := eps[(start+i)%n]
		life, fail, used := ep.look()
		if life == nil {
			continue
		}
		rank := 0
		if fail > 0 && now.Sub(used) < HealthProbation {
			rank += 2
		}
		if ep == avoid {
			rank++
		}
		load := ep.outstanding()
		better := rank < bRank
		if c.cfg.balancer == LeastOutstanding && rank == bRank {
			better = load < bLoad
		}
		if better {
			best, bLife, bRank, bLoad = ep, life, rank, load
		}
	}
	return best, bLife
}

// answered reports whether an attempt's outcome speaks for its endpoint's
// health: a reply, or an error reply other than a refusal to be retried
// elsewhere (overloaded, shutting down), which the balancers treat as a
// failure so that the next attempts prefer another replica.
func answered(err error) bool {
	if err == nil {
		return true
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return !retryableCode(re.Code)
	}
	return err == nil
}
