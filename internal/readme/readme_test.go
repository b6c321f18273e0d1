// Package readme_test keeps the README honest: every ```go block in
// README.md is a complete program, and this test builds each one (through
// a go build overlay, so nothing is written into the module) and runs it.
// (go vet cannot take overlay-only packages: it runs in the package's
// directory.)
package readme_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// snippets returns the ```go blocks of README.md.
func snippets(t *testing.T) []string {
	src, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	var out []string
	for _, m := range goBlock.FindAllStringSubmatch(string(src), -1) {
		out = append(out, m[1])
	}
	return out
}

func TestReadmeSnippetsCompileAndRun(t *testing.T) {
	blocks := snippets(t)
	require.GreaterOrEqual(t, len(blocks), 5, "the tour has a program per package")

	// Each block becomes internal/readme/snippetN/main.go, in the overlay only.
	dir := t.TempDir()
	here, err := os.Getwd()
	require.NoError(t, err)
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	for i, b := range blocks {
		require.True(t, strings.HasPrefix(b, "package main\n"),
			"README ```go block %d is not a complete program (use ```diff or ```sh for fragments):\n%s", i+1, b)
		file := filepath.Join(dir, fmt.Sprintf("snippet%d.go", i+1))
		require.NoError(t, os.WriteFile(file, []byte(b), 0o644))
		pkg := fmt.Sprintf("snippet%d", i+1)
		overlay["Replace"][filepath.Join(here, pkg, "main.go")] = file
		pkgs = append(pkgs, "./"+pkg)
	}
	js, err := json.Marshal(overlay)
	require.NoError(t, err)
	ov := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(ov, js, 0o644))

	bin := filepath.Join(dir, "bin") + string(filepath.Separator)
	out, err := exec.Command("go", append([]string{"build", "-overlay", ov, "-o", bin}, pkgs...)...).CombinedOutput()
	require.NoError(t, err, "go build of the README snippets:\n%s", out)

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
