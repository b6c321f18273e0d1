package testpeer

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The two roles of TestTiedChildDiesWithTheTestBinary's processes: the
// middle one is a test binary that starts a tied child (the leaf, which
// only waits) and prints its pid.
func init() {
	Register("tie-middle", func() error {
		leaf := exec.Command(os.Args[0], "-test.run=^$")
		leaf.Env = append(os.Environ(), envMode+"=tie-leaf")
		if err := StartTied(exitT{}, leaf, nil); err != nil {
			return err
		}
		fmt.Println("LEAF", leaf.Process.Pid)
		time.Sleep(time.Minute) // the test kills this process sooner
		return nil
	})
	Register("tie-leaf", func() error {
		time.Sleep(time.Minute) // killed with its parent, or by the test
		return nil
	})
}

// exitT is the testing.TB of a peer process, which never ends a test:
// its cleanups never run.
type exitT struct{ testing.TB }

func (exitT) Cleanup(func()) {}

func TestTiedChildDiesWithTheTestBinary(t *testing.T) {
	middle := exec.Command(os.Args[0], "-test.run=^$")
	middle.Env = append(os.Environ(), envMode+"=tie-middle")
	out, err := middle.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, middle.Start())
	t.Cleanup(func() { middle.Process.Kill(); middle.Wait() })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var leaf int
	select {
	case line := <-lines:
		pid, ok := strings.CutPrefix(line, "LEAF ")
		require.True(t, ok, "first line %q", line)
		leaf, err = strconv.Atoi(pid)
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("no LEAF line in 10 s")
	}
	t.Cleanup(func() { syscall.Kill(leaf, syscall.SIGKILL) })
	require.True(t, alive(leaf), "the leaf runs while its parent does")
	// Frozen, as tests freeze peers: SIGKILL ends it all the same.
	require.NoError(t, syscall.Kill(leaf, syscall.SIGSTOP))

	require.NoError(t, middle.Process.Kill())
	middle.Wait()
	// No event says that another process's child died: look, for at most
	// 5 s (it is gone within milliseconds).
	require.Eventually(t, func() bool { return !alive(leaf) }, 5*time.Second, 5*time.Millisecond,
		"the leaf outlived its killed parent")
}

// alive reports whether pid runs (a zombie, waiting for init to reap
// it, does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// OnThreadThatEnds never runs f on the main thread, which Go never ends,
// and f's thread ends once f returns.
func TestOnThreadThatEnds(t *testing.T) {
	for range 20 {
		tids := make(chan int, 1)
		OnThreadThatEnds(func() { tids <- syscall.Gettid() })
		tid := <-tids
		require.NotEqual(t, os.Getpid(), tid, "f ran on the main thread")
		task := fmt.Sprintf("/proc/self/task/%d", tid)
		require.Eventually(t, func() bool {
			_, err := os.Stat(task)
			return os.IsNotExist(err)
		}, 10*time.Second, time.Millisecond, "f's thread outlived it")
	}
}
