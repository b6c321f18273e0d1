// Package readme keeps the README honest: its tests build every Go
// program of README.md and run it. This file holds what they share with
// internal/readme/adapters, the module that builds the programs using the
// contrib adapters (```go contrib blocks), which this module must not
// require. Test tooling: never imported by library code.
package readme

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Blocks returns the programs of README.md (at path) fenced "```"+fence.
func Blocks(t testing.TB, path, fence string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+regexp.QuoteMeta(fence)+"\n(.*?)```").FindAllStringSubmatch(string(src), -1) {
		out = append(out, m[1])
	}
	return out
}

// Build builds each block as a main package of the module in the
// current directory, named prefix1, prefix2, ... (through a go build
// overlay, so nothing is written into the module), and returns the
// directory of the binaries.
func Build(t testing.TB, blocks []string, prefix string) (bin string) {
	t.Helper()
	dir := t.TempDir()
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	for i, b := range blocks {
		if !strings.HasPrefix(b, "package main\n") {
			t.Fatalf("README block %d is not a complete program (use ```diff or ```sh for fragments):\n%s", i+1, b)
		}
		file := filepath.Join(dir, fmt.Sprintf("%s%d.go", prefix, i+1))
		if err := os.WriteFile(file, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		pkg := fmt.Sprintf("%s%d", prefix, i+1)
		overlay["Replace"][filepath.Join(here, pkg, "main.go")] = file
		pkgs = append(pkgs, "./"+pkg)
	}
	js, err := json.Marshal(overlay)
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, js, 0o644); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "bin") + string(filepath.Separator)
	if out, err := exec.Command("go", append([]string{"build", "-overlay", ov, "-o", bin}, pkgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("go build of the README programs: %v\n%s", err, out)
	}
	return bin
}
