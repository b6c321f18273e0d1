// Package etcdtest starts a real etcd server (Debian's etcd-server, the
// etcd binary on PATH or in $ZMQGUARD_ETCD) on loopback ports with a
// temporary data directory, for tests, and stops it.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use.
package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrNoBinary is returned by Start when no etcd binary is found.
var ErrNoBinary = errors.New("etcdtest: no etcd binary (apt-get install etcd-server, or set ZMQGUARD_ETCD)")

// Server is a running etcd.
type Server struct {
	cmd  *exec.Cmd
	dir  string
	url  string
	log  *syncBuffer
	done chan struct{}

	stopOnce sync.Once
}

// Binary returns the path of the etcd binary, or ErrNoBinary.
func Binary() (string, error) {
	if p := os.Getenv("ZMQGUARD_ETCD"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/etcd", "/usr/local/bin/etcd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBinary
}

// Start starts etcd on two free loopback ports with a data directory
// under dir (a test's t.TempDir()), and waits until it serves, up to
// 30 s. Stop it with Stop.
func Start(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var last error
	for range 5 { // a free port may be taken between finding and binding it
		s, err := start(bin, dir)
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

func start(bin, dir string) (*Server, error) {
	cport, pport, err := freePorts()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp(dir, "etcd-")
	if err != nil {
		return nil, err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(cport)
	peer := "http://127.0.0.1:" + strconv.Itoa(pport)
	cmd := exec.Command(bin,
		"--name", "zgtest", "--data-dir", filepath.Join(data, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "zgtest="+peer, "--initial-cluster-state", "new",
		"--logger", "zap", "--log-outputs", "stderr")
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+goarch())
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &Server{cmd: cmd, dir: data, url: client, log: log, done: make(chan struct{})}
	// Linux sends Pdeathsig when the thread that started the child ends,
	// not the process, and Go ends a thread when a goroutine locked to it
	// returns (testpeer.StartTied's do): etcd is started from a thread
	// kept locked until it has exited, so that it dies with the test
	// binary and never before it is stopped.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends after etcd
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(s.done)
		if syscall.Gettid() == os.Getpid() {
			runtime.UnlockOSThread() // Go would wedge the main thread
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if err := s.ready(30 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(log.String(), 2000))
	}
	return s, nil
}

// ready waits until etcd answers a read.
func (s *Server) ready(within time.Duration) error {
	deadline := time.Now().Add(within)
	cli, err := s.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return errors.New("etcdtest: etcd exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcdtest: etcd not serving after %v: %w", within, err)
		}
	}
}

// Endpoint is the client URL (http://127.0.0.1:PORT).
func (s *Server) Endpoint() string { return s.url }

// Client returns a new client of the server; the caller closes it.
func (s *Server) Client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: []string{s.url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// Exited is closed once etcd has exited, stopped or not.
func (s *Server) Exited() <-chan struct{} { return s.done }

// Log returns what etcd printed so far.
func (s *Server) Log() string { return s.log.String() }

// Stop stops etcd (SIGTERM, then SIGKILL after 10 s), waits for it and
// removes its data directory. It is idempotent.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		_ = os.RemoveAll(s.dir)
	})
}

func freePorts() (int, int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		ls = append(ls, l)
	}
	return ls[0].Addr().(*net.TCPAddr).Port, ls[1].Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for etcd's output and a reader; it
// keeps the last 1 MiB.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		rest := b.b.Bytes()[b.b.Len()-1<<19:]
		keep := append([]byte(nil), rest...)
		b.b.Reset()
		b.b.Write(keep)
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
