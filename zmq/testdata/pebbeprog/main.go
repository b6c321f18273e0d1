// Command pebbeprog is a realistic program written against
// github.com/pebbe/zmq4 v1.4.0: a Lazy Pirate client, an echo server with a
// Poller, a CURVE-secured pair, a socket monitor and a Reactor. zmqguard's
// TestMigratedProgramBuilds builds it as is, then again with only the import
// path changed to github.com/zmqguard/zmqguard/zmq. It is built, not run.
package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

const (
	requestTimeout = 2500 * time.Millisecond
	requestRetries = 3
)

// server echoes every request, polling its socket and a control socket.
func server(ctx *zmq.Context, endpoint string, control string) error {
	rep, err := ctx.NewSocket(zmq.REP)
	if err != nil {
		return err
	}
	defer rep.Close()
	if err := rep.SetLinger(0); err != nil {
		return err
	}
	if err := rep.Bind(endpoint); err != nil {
		return err
	}
	ctl, err := ctx.NewSocket(zmq.PULL)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if err := ctl.Connect(control); err != nil {
		return err
	}

	poller := zmq.NewPoller()
	id := poller.Add(rep, zmq.POLLIN)
	poller.Add(ctl, zmq.POLLIN)
	if _, err := poller.Update(id, zmq.POLLIN); err != nil {
		return err
	}
	for {
		polled, err := poller.Poll(time.Second)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
				continue
			}
			return err
		}
		for _, p := range polled {
			var s *zmq.Socket = p.Socket
			var ev zmq.State = p.Events
			switch s {
			case rep:
				msg, err := s.RecvMessage(zmq.DONTWAIT)
				if err != nil {
					continue
				}
				if _, err := s.SendMessage(msg); err != nil {
					return err
				}
			case ctl:
				cmd, _ := s.Recv(0)
				log.Printf("control %q on %v (%v)", cmd, s, ev)
				return nil
			}
		}
	}
}

// lazyPirate sends request with retries, reconnecting after each timeout.
func lazyPirate(ctx *zmq.Context, endpoint, request string) (string, error) {
	newClient := func() (*zmq.Socket, error) {
		c, err := ctx.NewSocket(zmq.REQ)
		if err != nil {
			return nil, err
		}
		c.SetLinger(0)
		c.SetRcvtimeo(requestTimeout)
		if err := c.Connect(endpoint); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	client, err := newClient()
	if err != nil {
		return "", err
	}
	defer func() { client.Close() }()
	for retries := requestRetries; retries > 0; retries-- {
		if _, err := client.SendMessage(request, 1, []byte{0}, []string{"a", "b"}); err != nil {
			return "", err
		}
		reply, err := client.RecvMessage(0)
		if err == nil {
			return reply[0], nil
		}
		switch e := err.(type) {
		case zmq.Errno:
			if e == zmq.Errno(syscall.EAGAIN) || e == zmq.ETERM {
				log.Println("timeout:", e.Error())
			}
		}
		if zmq.AsErrno(err) == zmq.EFSM {
			return "", err
		}
		client.Close()
		if client, err = newClient(); err != nil {
			return "", err
		}
	}
	return "", errors.New("server seems to be offline")
}

// curvePair sets up a CURVE-secured PUSH/PULL pair in the default context.
func curvePair() error {
	zmq.AuthSetVerbose(false)
	if err := zmq.AuthStart(); err != nil {
		return err
	}
	defer zmq.AuthStop()
	zmq.AuthAllow("global", "127.0.0.1")
	serverPub, serverSec, err := zmq.NewCurveKeypair()
	if err != nil {
		return err
	}
	clientPub, clientSec, err := zmq.NewCurveKeypair()
	if err != nil {
		return err
	}
	zmq.AuthCurveAdd("global", clientPub)
	pub, err := zmq.AuthCurvePublic(serverSec)
	if err != nil || pub != serverPub {
		return fmt.Errorf("curve public: %v", err)
	}
	if zmq.Z85decode(zmq.Z85encode("12345678")) != "12345678" {
		return errors.New("z85")
	}

	pull, err := zmq.NewSocket(zmq.PULL)
	if err != nil {
		return err
	}
	defer pull.Close()
	pull.ServerAuthCurve("global", serverSec)
	if err := pull.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	endpoint, _ := pull.GetLastEndpoint()

	push, err := zmq.NewSocket(zmq.PUSH)
	if err != nil {
		return err
	}
	defer push.Close()
	push.ClientAuthCurve(serverPub, clientPub, clientSec)
	push.Connect(endpoint)
	push.Send("secret", 0)
	push.SendBytes([]byte("more"), zmq.DONTWAIT)
	msg, meta, err := pull.RecvWithMetadata(0, "User-Id")
	fmt.Println(msg, meta["User-Id"], err)
	b, err := pull.RecvBytes(0)
	fmt.Println(string(b), err)
	return nil
}

// monitor watches a socket's connection events.
func monitor(ctx *zmq.Context, s *zmq.Socket) {
	addr := "inproc://monitor.rep"
	if err := s.Monitor(addr, zmq.EVENT_CONNECTED|zmq.EVENT_DISCONNECTED); err != nil {
		log.Fatal(err)
	}
	m, _ := ctx.NewSocket(zmq.PAIR)
	m.Connect(addr)
	go func() {
		defer m.Close()
		for {
			ev, addr, v, err := m.RecvEvent(0)
			if err != nil {
				return
			}
			switch ev {
			case zmq.EVENT_CONNECTED, zmq.EVENT_DISCONNECTED:
				log.Println(ev, addr, v)
			case zmq.EVENT_MONITOR_STOPPED:
				return
			}
		}
	}()
}

// reactor runs a reactor over a SUB socket and a ticker for a while.
func reactor(ctx *zmq.Context, endpoint string) error {
	sub, err := ctx.NewSocket(zmq.SUB)
	if err != nil {
		return err
	}
	defer sub.Close()
	sub.SetSubscribe("")
	sub.SetRcvhwm(1000)
	sub.SetReconnectIvl(100 * time.Millisecond)
	sub.Connect(endpoint)
	hwm, _ := sub.GetRcvhwm()
	typ, _ := sub.GetType()
	var t zmq.Type = typ
	fmt.Println(sub, t, hwm, sub.String())
	r := zmq.NewReactor()
	r.AddSocket(sub, zmq.POLLIN, func(zmq.State) error {
		_, err := sub.RecvMessageBytes(0)
		return err
	})
	n := 0
	r.AddChannelTime(time.Tick(10*time.Millisecond), 1, func(interface{}) error {
		if n++; n > 3 {
			return errors.New("done")
		}
		return nil
	})
	return r.Run(5 * time.Millisecond)
}

func main() {
	major, minor, patch := zmq.Version()
	fmt.Println("libzmq", major, minor, patch, zmq.HasCurve(), zmq.HasIpc())
	zmq.SetRetryAfterEINTR(true)

	ctx, err := zmq.NewContext()
	if err != nil {
		log.Fatal(err)
	}
	ctx.SetIoThreads(1)
	ctx.SetRetryAfterEINTR(!ctx.GetRetryAfterEINTR())

	ctl, _ := ctx.NewSocket(zmq.PUSH)
	ctl.Bind("inproc://control")
	go server(ctx, "tcp://127.0.0.1:5555", "inproc://control")
	reply, err := lazyPirate(ctx, "tcp://127.0.0.1:5555", "hello")
	fmt.Println(reply, err)

	if err := curvePair(); err != nil {
		fmt.Println(err)
	}
	if err := reactor(ctx, "tcp://127.0.0.1:5556"); err != nil {
		fmt.Println(err)
	}
	monitor(ctx, ctl)
	ctl.Send("stop", 0)
	if c, err := ctl.Context(); err == nil && c == ctx {
		ctl.Close()
	}
	if err := ctl.Close(); err == zmq.ErrorSocketClosed {
		fmt.Println("closed twice")
	}
	if err := ctx.Term(); err != nil {
		fmt.Fprintln(os.Stderr, zmq.AsErrno(err))
	}
	var proxyFn func(a, b, c *zmq.Socket) error = zmq.Proxy
	_ = proxyFn
}
