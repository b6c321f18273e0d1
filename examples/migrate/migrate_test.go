package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build compiles the program in dir into a temporary binary.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Join("migrate", dir)))
	out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", dir, out)
	return bin
}

// runBin runs bin, which must exit 0 within 5 seconds, and returns its output.
func runBin(t *testing.T, bin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin).CombinedOutput()
	require.NoError(t, ctx.Err(), "the program did not finish within 5s:\n%s", out)
	require.NoError(t, err, "exit status:\n%s", out)
	t.Logf("%s finished in %v:\n%s", filepath.Base(bin), time.Since(start).Round(time.Millisecond), out)
	return string(out)
}

func TestPebbeProgramGetsStuck(t *testing.T) {
	out := runBin(t, build(t, "./pebbe"))
	// 300ms rounded to 100ms, or more on a loaded machine (and pebbe's
	// timeouts stretch when EINTR restarts them).
	assert.Regexp(t, `request 1: no reply after (\d00ms|[\d.]+s): resource temporarily unavailable\n`, out)
	assert.Contains(t, out, "request 1: timed out (EAGAIN): true\n")
	assert.Contains(t, out, "request 2: send failed: Operation cannot be accomplished in current state\n")
	assert.Contains(t, out, "request 2: the REQ socket is stuck waiting for reply 1 (EFSM)\n")
	assert.NotContains(t, out, "request 2: got")
}

func TestZmqguardProgramRecovers(t *testing.T) {
	out := runBin(t, build(t, "."))
	assert.Regexp(t, `request 1: no reply after (\d00ms|[\d.]+s): zmq: recv: i/o timeout\n`, out)
	assert.Contains(t, out, "request 1: timed out (EAGAIN): true\n", "pebbe-style error checks still work")
	assert.Contains(t, out, "request 1: reset: <nil>\n")
	assert.Contains(t, out, "request 2: got \"reply to second\"\n")
	assert.NotContains(t, out, "EFSM")
}

// TestProgramsDifferOnlyInImportAndReset keeps the two programs honest:
// after the package comment, they differ in the import path and the one
// line that calls Reset.
func TestProgramsDifferOnlyInImportAndReset(t *testing.T) {
	body := func(path string) []string {
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		i := bytes.Index(src, []byte("\npackage main\n"))
		require.Positive(t, i)
		return strings.Split(string(src[i:]), "\n")
	}
	pebbe, ours := body(filepath.Join("pebbe", "main.go")), body("main.go")
	var changed, added []string
	for i, j := 0, 0; i < len(pebbe) || j < len(ours); {
		switch {
		case i < len(pebbe) && j < len(ours) && pebbe[i] == ours[j]:
			i, j = i+1, j+1
		case i < len(pebbe) && j < len(ours) && strings.Contains(pebbe[i], "github.com/pebbe/zmq4"):
			changed = append(changed, ours[j])
			i, j = i+1, j+1
		case j < len(ours):
			added = append(added, ours[j])
			j++
		default:
			t.Fatalf("line %q of pebbe/main.go is missing from main.go", pebbe[i])
		}
	}
	assert.Equal(t, []string{"\tzmq \"github.com/zmqguard/zmqguard/zmq\""}, changed)
	require.Len(t, added, 1)
	assert.Contains(t, added[0], "client.Reset()")
}
