package reliable

import (
	"fmt"

	"github.com/zmqguard/zmqguard/zmq"
)

// checkEndpoints refuses a malformed endpoint at NewClient, in both
// modes (plain mode connects lazily, at the first request that needs the
// endpoint): the error is an *zmq.EndpointError naming the endpoint and
// matching zmq.ErrInvalidEndpoint.
func checkEndpoints(endpoints []string) error {
	for _, addr := range endpoints {
		if err := zmq.CheckEndpoint("connect", addr); err != nil {
			return fmt.Errorf("reliable: endpoint %s: %w", addr, err)
		}
	}
	return nil
}
