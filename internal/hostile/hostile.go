// Package hostile is test tooling: the attacks of zmqguard's hostile-peer
// tests, each a program that abuses a ZMTP server the way the attacks of
// issue 16 did. They speak ZMTP 3 over raw TCP (the NULL mechanism, as a
// DEALER), so that they can do what no libzmq socket would: stream one
// message without end, stall a handshake, never read a reply.
//
// An attack runs in a process of its own: the test binary, re-executed
// through package testpeer. Call Register in TestMain before
// testpeer.MaybeRun, then Start in a test. Every attack prints READY when
// it has begun, and runs until it is done or killed; it reports progress
// on stdout as EXEC lines (testpeer.Proc.Executions counts them).
package hostile

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

// The attacks, by name.
const (
	// BigRequest sends one request of Frames frames of Size bytes each,
	// streamed (the attacker holds one frame), and waits for the answer:
	// it reports "answered" or "dropped".
	BigRequest = "big-request"
	// Endless sends the start of a request and then frames of Size bytes
	// with the MORE flag, never the last one. When the server drops the
	// connection it reports "dropped" and starts again on a new one.
	Endless = "endless"
	// SlowReader opens Conns connections and sends on each, as fast as
	// the server takes them, requests of Size bytes (an echo server's
	// replies are as large), up to Requests per connection, and never
	// reads a reply.
	SlowReader = "slow-reader"
	// Idle opens Conns connections, makes the ZMTP handshake on each and
	// holds them without a word: what a connection costs the server at
	// rest.
	Idle = "idle"
	// Stalled opens Conns connections, sends the first 10 bytes of the
	// ZMTP greeting on each and holds them, opening new ones as the
	// server drops them. It reports "open N" every second.
	Stalled = "stalled"
)

// Params configure an attack.
type Params struct {
	Frames   int // BigRequest: frames of the request
	Size     int // bytes per frame (BigRequest, Endless) or per request (SlowReader)
	Conns    int // SlowReader, Stalled: connections
	Requests int // SlowReader: requests per connection (0: without end)
}

func (p Params) env(endpoint string) []string {
	return []string{"ZG_ENDPOINT=" + endpoint,
		fmt.Sprintf("ZG_FRAMES=%d", p.Frames), fmt.Sprintf("ZG_SIZE=%d", p.Size),
		fmt.Sprintf("ZG_CONNS=%d", p.Conns), fmt.Sprintf("ZG_REQUESTS=%d", p.Requests)}
}

func paramsFromEnv() (string, Params) {
	n := func(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }
	return os.Getenv("ZG_ENDPOINT"), Params{Frames: n("ZG_FRAMES"), Size: n("ZG_SIZE"), Conns: n("ZG_CONNS"), Requests: n("ZG_REQUESTS")}
}

var attacks = map[string]func(addr string, p Params) error{
	BigRequest: bigRequest,
	Endless:    endless,
	SlowReader: slowReader,
	Stalled:    stalled,
	Idle:       idle,
}

// Register registers every attack with testpeer. Call it in TestMain
// before testpeer.MaybeRun.
func Register() {
	for name, f := range attacks {
		testpeer.Register("hostile-"+name, func() error {
			ep, p := paramsFromEnv()
			addr, ok := strings.CutPrefix(ep, "tcp://")
			if !ok {
				return fmt.Errorf("hostile: %s: want a tcp:// endpoint, got %q", name, ep)
			}
			return f(addr, p)
		})
	}
}

// Start starts attack against endpoint (tcp://host:port) in a process of
// its own, and waits until it has begun. The process is killed when the
// test ends.
func Start(t testing.TB, attack, endpoint string, p Params) *testpeer.Proc {
	t.Helper()
	if attacks[attack] == nil {
		t.Fatalf("hostile: no attack %q", attack)
	}
	return testpeer.StartCustom(t, "hostile-"+attack, p.env(endpoint)...)
}

// Greeting is a ZMTP 3.0 greeting for the NULL mechanism, as a client.
func Greeting() []byte {
	g := make([]byte, 64)
	g[0], g[9] = 0xFF, 0x7F // signature: 0xFF, 8 bytes of padding, 0x7F
	g[10], g[11] = 3, 0     // version 3.0
	copy(g[12:32], "NULL")  // mechanism, zero-padded to 20 bytes
	return g
}

// Ready is a READY command announcing a DEALER.
func Ready() []byte {
	body := []byte{5}
	body = append(body, "READY"...)
	body = append(body, 11)
	body = append(body, "Socket-Type"...)
	body = binary.BigEndian.AppendUint32(body, 6)
	body = append(body, "DEALER"...)
	return append([]byte{0x04, byte(len(body))}, body...) // short command frame
}

// FrameHeader returns the header of a message frame of n bytes, with the
// MORE flag when more frames of the message follow.
func FrameHeader(n int, more bool) []byte {
	var flags byte
	if more {
		flags = 0x01
	}
	if n <= 255 {
		return []byte{flags, byte(n)}
	}
	return binary.BigEndian.AppendUint64([]byte{flags | 0x02}, uint64(n))
}

// dial connects and makes the ZMTP handshake: greeting, the server's
// greeting, READY. (libzmq 4.3 may fail a handshake whose READY arrives
// with the greeting, before it has sent its own.) The server's READY and
// anything after it is left unread.
func dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write(Greeting())
	if err == nil {
		_, err = io.ReadFull(c, make([]byte, 64))
	}
	if err == nil {
		_, err = c.Write(Ready())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// dialAll opens n connections, each past its handshake.
func dialAll(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := dial(addr)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func bigRequest(addr string, p Params) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	testpeer.Ready(addr)
	// Read the server's READY, then watch for the answer or the end of
	// the connection.
	answered := make(chan string, 1)
	go func() {
		buf := make([]byte, 64<<10)
		total := 0
		for {
			n, err := c.Read(buf)
			total += n
			if err != nil {
				answered <- "dropped"
				return
			}
			if total > 64 { // READY, and more: an answer
				answered <- "answered"
				return
			}
		}
	}()
	frame := make([]byte, p.Size)
	if _, err := c.Write(FrameHeader(0, true)); err != nil { // the delimiter
		testpeer.Executed("dropped")
		return nil
	}
	for i := range p.Frames {
		msg := append(FrameHeader(p.Size, i < p.Frames-1), frame...)
		if _, err := c.Write(msg); err != nil {
			break
		}
	}
	select {
	case res := <-answered:
		testpeer.Executed(res)
	case <-time.After(30 * time.Second):
		testpeer.Executed("silent")
	}
	select {} // until killed
}

func endless(addr string, p Params) error {
	frame := append(FrameHeader(p.Size, true), make([]byte, p.Size)...)
	// Write in chunks of at least 64 KiB: tiny frames one by one would
	// measure the system calls, not the server.
	chunk := frame
	for len(chunk) < 64<<10 {
		chunk = append(chunk, frame...)
	}
	ready := false
	for {
		c, err := dial(addr)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go io.Copy(io.Discard, c) //nolint:errcheck // the server's greeting; ends with c
		if !ready {
			testpeer.Ready(addr)
			ready = true
		}
		_, err = c.Write(FrameHeader(0, true)) // the delimiter
		for err == nil {
			_, err = c.Write(chunk)
		}
		c.Close()
		testpeer.Executed("dropped")
		time.Sleep(10 * time.Millisecond)
	}
}

func slowReader(addr string, p Params) error {
	body := make([]byte, p.Size)
	msg := append(append(FrameHeader(0, true), FrameHeader(p.Size, false)...), body...)
	var wg sync.WaitGroup
	conns, err := dialAll(addr, p.Conns)
	if err != nil {
		return err
	}
	testpeer.Ready(addr)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; p.Requests == 0 || i < p.Requests; i++ {
				if _, err := c.Write(msg); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	testpeer.Executed("sent")
	select {} // hold the connections, unread, until killed
}

func stalled(addr string, p Params) error {
	var mu sync.Mutex
	open := 0
	hold := func() {
		for {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if _, err := c.Write(Greeting()[:10]); err == nil {
				mu.Lock()
				open++
				mu.Unlock()
				_, _ = io.Copy(io.Discard, c) // until the server drops it
				mu.Lock()
				open--
				mu.Unlock()
			}
			c.Close()
			time.Sleep(10 * time.Millisecond)
		}
	}
	for range p.Conns {
		go hold()
	}
	testpeer.Ready(addr)
	for {
		time.Sleep(time.Second)
		mu.Lock()
		n := open
		mu.Unlock()
		testpeer.Executed(fmt.Sprintf("open %d", n))
	}
}

func idle(addr string, p Params) error {
	conns, err := dialAll(addr, p.Conns)
	if err != nil {
		return err
	}
	testpeer.Ready(addr)
	testpeer.Executed(fmt.Sprintf("open %d", len(conns)))
	select {} // until killed
}
