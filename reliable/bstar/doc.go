// Package bstar is the Binary Star pattern of zguide chapter 4: two
// servers, a primary and a backup, of which one is active and serves
// clients while the other stands by, so that the server is no longer a
// single point of failure. docs/BINARY-STAR.md has the wire, the state
// machine and the failure windows.
//
// Each server of the pair has a Pair. It publishes the server's state
// every heartbeat on its state endpoint and follows the peer's state;
// the server calls Admit for every client request and serves only what
// Admit admits. The state machine (Step) is the zguide's, including its
// rule against split brain: the passive server takes over only when a
// client request reaches it while the active peer has been silent for
// the peer expiry. A backup that has never heard its primary refuses
// clients, so a pair whose servers cannot see each other has at most one
// server that serves (unless clients reach both sides of a network
// partition: then each side may serve, and the state machine stops both
// when they see each other again, with ErrDualActive).
//
//	p, err := bstar.New(zctx, bstar.Primary, "tcp://*:5003", "tcp://backup:5004")
//	go p.Run(ctx)
//	...
//	if !p.Admit() {
//		// refuse: the client should try the peer (wire.CodePassive)
//	}
//
// Binary Star replicates no data: each server has its own requests,
// queues and workers. A request in flight at the server that dies is
// lost with it, and clients retry it on the peer.
//
// # Adopting it in a server
//
// A server adopts Binary Star by owning a Pair: it runs the Pair's Run
// for as long as it serves (and stops serving when Run returns a fatal
// error), calls Admit at the one place where a client request enters,
// and answers a refused request with an error reply of code
// wire.CodePassive (or drops it, as the zguide does, which leaves the
// client to time out). Its clients must know both servers' endpoints and
// move to the other one after a failed attempt or a passive reply; its
// workers, if it has any, register with both servers (only the active one
// gives them work). Attach runs a pair beside its server. The Majordomo
// broker (mdp.WithBinaryStar) and the Paranoid Pirate queue
// (ppp.WithQueueBinaryStar) are built this way.
//
// # Concurrency
//
// Run is called once and runs the only goroutines that touch the pair's
// sockets (its loop and a reader). Admit, State, Stats, WaitFor and Close
// are safe to call from any goroutine at any time; Admit never blocks on
// the network. Step is a pure function.
//
// # Errors
//
// Errors match with errors.Is and errors.As: ErrClosed (matches
// net.ErrClosed), ErrRunning, the fatal ErrDualActive, ErrDualPassive and
// ErrSameRole, and *zmq.OptionError for every invalid option, a nil one
// included. Nothing is printed: observe with Stats and WithEventHook.
package bstar
