package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zmqguard/zmqguard/contrib/etcd"
	"github.com/zmqguard/zmqguard/contrib/etcd/etcdtest"
	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/internal/resolvetest"
	"github.com/zmqguard/zmqguard/internal/testpeer"
)

// startEtcd starts a real etcd for the test; it skips when there is no
// etcd binary, except in CI (CI=true), where that is a failure.
func startEtcd(t *testing.T) *etcdtest.Server {
	t.Helper()
	s, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

// etcd outlives the thread that called Start. Linux sends a child's
// Pdeathsig when the thread that started it ends, not the process, and Go
// ends a thread when a goroutine locked to it returns.
func TestEtcdOutlivesTheThreadThatStartedIt(t *testing.T) {
	dir := t.TempDir()
	type started struct {
		s   *etcdtest.Server
		err error
		tid int
	}
	ch := make(chan started, 1)
	testpeer.OnThreadThatEnds(func() {
		s, err := etcdtest.Start(dir)
		ch <- started{s, err, syscall.Gettid()}
	})
	st := <-ch
	if errors.Is(st.err, etcdtest.ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skip(st.err)
	}
	require.NoError(t, st.err)
	t.Cleanup(st.s.Stop)
	task := fmt.Sprintf("/proc/self/task/%d", st.tid)
	require.Eventually(t, func() bool {
		_, err := os.Stat(task)
		return os.IsNotExist(err)
	}, 10*time.Second, time.Millisecond, "the thread that started etcd never ended")
	// A Pdeathsig, had it been sent as the thread ended, would have ended
	// etcd within milliseconds.
	select {
	case <-st.s.Exited():
		t.Fatalf("etcd died with the thread that started it\n%s", st.s.Log())
	case <-time.After(2 * time.Second):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client(t, st.s).Get(ctx, "health")
	assert.NoError(t, err)
}

func client(t *testing.T, s *etcdtest.Server) *clientv3.Client {
	cli, err := s.Client()
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return cli
}

// until returns the first update on ch whose set is want.
func until(t *testing.T, ch <-chan discovery.Update, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case u := <-ch:
			if u.Err == nil && assert.ObjectsAreEqual(discovery.Normalize(want), u.Endpoints) {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("set %v not reported within 20s", want)
		}
	}
}

func TestRegisterResolveDeregister(t *testing.T) {
	s := startEtcd(t)
	cli := client(t, s)
	reg, err := etcd.NewRegistrar(cli, "/zg/svc/", 2*time.Second)
	require.NoError(t, err)
	res, err := etcd.NewResolver(cli, "/zg/svc/")
	require.NoError(t, err)
	ch := resolvetest.Watch(t, res, nil)
	until(t, ch) // empty at first

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := reg.Register(ctx, "tcp://127.0.0.1:7001")
	require.NoError(t, err)
	b, err := reg.Register(ctx, "tcp://127.0.0.1:7002")
	require.NoError(t, err)
	until(t, ch, "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002")

	// Kept alive past its TTL.
	time.Sleep(3 * time.Second)
	got, err := cli.Get(ctx, "/zg/svc/", clientv3.WithPrefix())
	require.NoError(t, err)
	assert.Len(t, got.Kvs, 2, "registrations expired although kept alive")

	require.NoError(t, a.Deregister(ctx))
	require.NoError(t, a.Deregister(ctx), "Deregister is idempotent")
	d := until(t, ch, "tcp://127.0.0.1:7002")
	t.Logf("deregistration seen by the resolver after %v", d)
	assert.Less(t, d, time.Second)
	<-a.Lost()
	require.NoError(t, b.Deregister(ctx))
	until(t, ch)
}

// TestDeadRegistrationExpires: a registration whose keep-alive stops (its
// client is gone, as when the process is killed) disappears at lease
// expiry.
func TestDeadRegistrationExpires(t *testing.T) {
	s := startEtcd(t)
	res, err := etcd.NewResolver(client(t, s), "/zg/svc/")
	require.NoError(t, err)
	ch := resolvetest.Watch(t, res, nil)
	until(t, ch)

	dying, err := s.Client()
	require.NoError(t, err)
	reg, err := etcd.NewRegistrar(dying, "/zg/svc/", time.Second)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := reg.Register(ctx, "tcp://127.0.0.1:7001")
	require.NoError(t, err)
	until(t, ch, "tcp://127.0.0.1:7001")
	dying.Close() // the keep-alive stops, the lease is not revoked
	<-r.Lost()
	d := until(t, ch)
	t.Logf("dead registration gone after %v (TTL 1s)", d)
	assert.Less(t, d, 4*time.Second)
}

// TestResolverRidesOutEtcdRestart: etcd stops; the resolver reports
// errors and keeps its set; a new etcd's set is reported when it serves.
func TestResolverReportsErrorsAndKeepsSet(t *testing.T) {
	s := startEtcd(t)
	cli := client(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "/zg/svc/x", "tcp://127.0.0.1:7001")
	require.NoError(t, err)
	res, err := etcd.NewResolver(cli, "/zg/svc/")
	require.NoError(t, err)
	ch := resolvetest.Watch(t, res, nil)
	until(t, ch, "tcp://127.0.0.1:7001")
	s.Stop()
	select {
	case u := <-ch:
		assert.Error(t, u.Err, "an update with a set after etcd stopped: %v", u.Endpoints)
	case <-time.After(20 * time.Second):
		t.Fatal("no error reported within 20s of etcd stopping")
	}
}

func TestConstructorErrors(t *testing.T) {
	_, err := etcd.NewRegistrar(nil, "/p", 0)
	assert.Error(t, err)
	_, err = etcd.NewResolver(nil, "/p")
	assert.Error(t, err)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer cli.Close()
	_, err = etcd.NewRegistrar(cli, "", 0)
	assert.ErrorIs(t, err, etcd.ErrPrefix)
	_, err = etcd.NewRegistrar(cli, "/p", -time.Second)
	assert.Error(t, err)
	_, err = etcd.NewResolver(cli, "")
	assert.ErrorIs(t, err, etcd.ErrPrefix)
}
