package timeout_test

import (
	"bufio"
	"fmt"
	"os"
	"testing"

	zmq4 "github.com/pebbe/zmq4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(echoServerEnv) == "1" {
		echoServerProcess()
		return
	}
	goleak.VerifyTestMain(m)
}

// echoServerEnv makes the test binary an echo server (see
// BenchmarkReqRepPaired/process-server).
const echoServerEnv = "ZMQGUARD_TIMEOUT_ECHO_SERVER"

// echoServerProcess serves a pebbe/zmq4 REP socket on tcp, echoing every
// request, until its standard input closes. It prints the endpoint first.
func echoServerProcess() {
	c, err := zmq4.NewContext()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	rep, err := c.NewSocket(zmq4.REP)
	if err == nil {
		err = rep.Bind("tcp://127.0.0.1:*")
	}
	ep, _ := rep.GetLastEndpoint()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(ep)
	go func() {
		bufio.NewReader(os.Stdin).ReadString(0) // until EOF
		os.Exit(0)
	}()
	for {
		m, err := rep.RecvBytes(0)
		if err != nil {
			continue
		}
		rep.SendBytes(m, 0)
	}
}
