package adapters_test

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

// contribBlock is a README program that uses the adapters: a block fenced
// "```go contrib" (internal/readme builds the plain ```go ones).
var contribBlock = regexp.MustCompile("(?s)```go contrib\n(.*?)```")

// TestReadmeAdapterProgramsCompileAndRun builds each adapter program of
// README.md in this module (through a go build overlay, as
// internal/readme does) and runs it.
func TestReadmeAdapterProgramsCompileAndRun(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	require.NoError(t, err)
	blocks := contribBlock.FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, blocks, "the README shows the adapters")

	dir := t.TempDir()
	here, err := os.Getwd()
	require.NoError(t, err)
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	for i, b := range blocks {
		require.True(t, strings.HasPrefix(b[1], "package main\n"), "block %d is not a complete program", i+1)
		file := filepath.Join(dir, fmt.Sprintf("program%d.go", i+1))
		require.NoError(t, os.WriteFile(file, []byte(b[1]), 0o644))
		pkg := fmt.Sprintf("program%d", i+1)
		overlay["Replace"][filepath.Join(here, pkg, "main.go")] = file
		pkgs = append(pkgs, "./"+pkg)
	}
	js, err := json.Marshal(overlay)
	require.NoError(t, err)
	ov := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(ov, js, 0o644))
	bin := filepath.Join(dir, "bin") + string(filepath.Separator)
	out, err := exec.Command("go", append([]string{"build", "-overlay", ov, "-o", bin}, pkgs...)...).CombinedOutput()
	require.NoError(t, err, "go build of the README's adapter programs:\n%s", out)

	want := map[int]string{1: "observed\n"}
	for i := range blocks {
		name := fmt.Sprintf("program%d", i+1)
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, filepath.Join(bin, name)).CombinedOutput()
			require.NoError(t, ctx.Err(), "%s did not finish:\n%s", name, out)
			require.NoError(t, err, "%s:\n%s", name, out)
			assert.Equal(t, want[i+1], string(out))
		})
	}
}
