package adapters_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/readme"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadmeAdapterProgramsCompileAndRun builds each program of README.md
// fenced "```go contrib" (internal/readme builds the plain ```go ones) in
// this module, which requires the adapters, and runs it.
func TestReadmeAdapterProgramsCompileAndRun(t *testing.T) {
	blocks := readme.Blocks(t, filepath.Join("..", "..", "..", "README.md"), "go contrib")
	require.NotEmpty(t, blocks, "the README shows the adapters")
	bin := readme.Build(t, blocks, "program")

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
