// Every ```go block in README.md is a complete program: this test builds
// each one (through a go build overlay, so nothing is written into the
// module) and runs it. (go vet cannot take overlay-only packages: it runs
// in the package's directory.)
package readme_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/readme"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadmeSnippetsCompileAndRun(t *testing.T) {
	blocks := readme.Blocks(t, filepath.Join("..", "..", "README.md"), "go")
	require.GreaterOrEqual(t, len(blocks), 5, "the tour has a program per package")
	// Each block becomes internal/readme/snippetN/main.go, in the overlay only.
	bin := readme.Build(t, blocks, "snippet")

	want := map[int][]string{ // output lines each tour program must print
		1: {"no reply: zmq: recv: i/o timeout", "send after reset: <nil>"},
		2: {"zmq: recv: context deadline exceeded"},
		3: {"HELLO"},
		4: {"send: <nil>\nrecv: zmq: recv: i/o timeout resets: 1\nsend: <nil>\nrecv: zmq: recv: i/o timeout resets: 2\n"},
		5: {"worker-1: alive -> suspect\nworker-1: suspect -> dead\n"},
	}
	for i := range blocks {
		name := fmt.Sprintf("snippet%d", i+1)
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, filepath.Join(bin, name)).CombinedOutput()
			require.NoError(t, ctx.Err(), "%s did not finish:\n%s", name, out)
			require.NoError(t, err, "%s:\n%s", name, out)
			t.Logf("%s:\n%s", name, out)
			for _, line := range want[i+1] {
				assert.Contains(t, string(out), line)
			}
		})
	}
}

// TestReadmeLinks checks that the README's relative links point at files,
// except the documents other work in progress will add.
func TestReadmeLinks(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	pending := map[string]bool{"docs/BENCHMARKS.md": true}
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(string(src), -1) {
		if pending[m[1]] {
			continue
		}
		_, err := os.Stat(filepath.Join("..", "..", m[1]))
		assert.NoError(t, err, "README links to %s", m[1])
	}
}
