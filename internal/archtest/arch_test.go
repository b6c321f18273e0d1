// Package archtest holds the architecture test: docs/ARCHITECTURE.md draws
// which package may import which, and this test fails when an import in the
// tree contradicts the drawing, when cgo appears outside internal/engine,
// or when the library's go.mod requires more than the library needs.
package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const module = "github.com/zmqguard/zmqguard"

// tooling are the packages that serve tests and builds; library code never
// imports them, and they may import anything.
var tooling = []string{
	"internal/apigen", "internal/archtest", "internal/faultproxy", "internal/procstat",
	"internal/readme", "internal/soak", "internal/testpeer", "internal/zmqtest", "internal/hostile",
	"internal/observetest",
	"internal/resolvetest",
}

// allowed reads the table between the archtest markers of
// docs/ARCHITECTURE.md: package -> the module packages it may import, and
// whether it may import pebbe/zmq4.
func allowed(t *testing.T) (deps map[string][]string, pebbe map[string]bool) {
	src, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	require.NoError(t, err)
	_, rest, ok := bytes.Cut(src, []byte("<!-- archtest:begin -->"))
	require.True(t, ok, "docs/ARCHITECTURE.md has no archtest:begin marker")
	table, _, ok := bytes.Cut(rest, []byte("<!-- archtest:end -->"))
	require.True(t, ok, "docs/ARCHITECTURE.md has no archtest:end marker")
	deps, pebbe = map[string][]string{}, map[string]bool{}
	name := regexp.MustCompile("`([^`]+)`")
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 || strings.Contains(cells[1], "---") || strings.TrimSpace(cells[1]) == "package" {
			continue
		}
		m := name.FindStringSubmatch(cells[1])
		require.NotNil(t, m, "row without a package: %q", sc.Text())
		pkg := m[1]
		deps[pkg] = []string{}
		for _, d := range name.FindAllStringSubmatch(cells[2], -1) {
			deps[pkg] = append(deps[pkg], d[1])
		}
		pebbe[pkg] = strings.Contains(cells[2], "pebbe")
	}
	require.NotEmpty(t, deps)
	return deps, pebbe
}

type goPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	CgoFiles     []string
	Standard     bool
}

// packages lists the root module's packages.
func packages(t *testing.T) []goPackage {
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderrOf(err))
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		require.NoError(t, dec.Decode(&p))
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// isStd reports a standard-library import path (no dot in its first
// element).
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestImportsFollowTheDrawing(t *testing.T) {
	deps, pebbe := allowed(t)
	seen := map[string]bool{}
	for _, p := range packages(t) {
		pkg, ok := rel(p.ImportPath)
		require.True(t, ok, p.ImportPath)
		seen[pkg] = true
		if slices.Contains(tooling, pkg) {
			continue
		}
		allow, listed := deps[pkg]
		if !assert.True(t, listed, "package %s is not in docs/ARCHITECTURE.md's table: add its row", pkg) {
			continue
		}
		for _, imp := range p.Imports {
			if imp == "C" || isStd(imp) {
				continue
			}
			if imp == "github.com/pebbe/zmq4" {
				assert.True(t, pebbe[pkg], "%s imports pebbe/zmq4, which its row does not allow", pkg)
				continue
			}
			dep, inModule := rel(imp)
			if !assert.True(t, inModule, "library package %s imports %s, outside the module: the library requires pebbe/zmq4 alone", pkg, imp) {
				continue
			}
			assert.Contains(t, allow, dep, "%s imports %s, which docs/ARCHITECTURE.md does not allow", pkg, dep)
		}
		// Tests may also use the tooling and the other library packages,
		// but nothing outside the module beyond testify, goleak and pebbe.
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			if imp == "C" || isStd(imp) || strings.HasPrefix(imp, module) {
				continue
			}
			assert.Contains(t, []string{"github.com/pebbe/zmq4", "github.com/stretchr/testify/assert",
				"github.com/stretchr/testify/require", "go.uber.org/goleak"}, imp, "a test of %s imports %s", pkg, imp)
		}
	}
	for pkg := range deps {
		assert.True(t, seen[pkg], "docs/ARCHITECTURE.md lists %s, which does not exist", pkg)
	}
}

func TestOnlyTheEngineUsesCgo(t *testing.T) {
	for _, p := range packages(t) {
		pkg, _ := rel(p.ImportPath)
		if len(p.CgoFiles) > 0 {
			assert.Equal(t, "internal/engine", pkg, "%s has cgo files %v: only internal/engine calls libzmq itself", pkg, p.CgoFiles)
		}
	}
}

// TestLibraryGoModIsLean: the library requires pebbe/zmq4 and the two test
// libraries, nothing else directly.
func TestLibraryGoModIsLean(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{if not .Indirect}}{{.Path}}{{end}}", "all")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	require.NoError(t, err, "go list -m: %s", stderrOf(err))
	var direct []string
	for _, l := range strings.Fields(string(out)) {
		if l != module {
			direct = append(direct, l)
		}
	}
	assert.ElementsMatch(t, []string{"github.com/pebbe/zmq4", "github.com/stretchr/testify", "go.uber.org/goleak"}, direct)
}

// TestEveryModuleIsTested: every go.mod in the repository is in the
// Makefile's MODULES, which make test and make lint run.
func TestEveryModuleIsTested(t *testing.T) {
	root := filepath.Join("..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^MODULES \?= (.*)$`).FindSubmatch(mk)
	require.NotNil(t, m, "Makefile has no MODULES line")
	listed := strings.Fields(string(m[1]))
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			dir, _ := filepath.Rel(root, filepath.Dir(path))
			assert.Contains(t, listed, filepath.ToSlash(dir), "module %s is not in the Makefile's MODULES", dir)
		}
		return nil
	})
	require.NoError(t, err)
}

// TestBenchDependenciesAreNotTheLibrarys: go mod why, from the library
// module, says it does not need the benchmark's pure-Go ZeroMQ.
func TestBenchDependenciesAreNotTheLibrarys(t *testing.T) {
	cmd := exec.Command("go", "mod", "why", "-m", "github.com/go-zeromq/zmq4")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	require.NoError(t, err, "go mod why: %s", stderrOf(err))
	assert.Contains(t, string(out), "main module does not need module github.com/go-zeromq/zmq4")
}

// TestAdapterDependenciesAreTheirOwn: go mod why says that Prometheus
// and OpenTelemetry are needed only by their adapters' modules (and the
// CLI, which serves /metrics): not by the library, the other adapters,
// the examples or the benchmarks, and by each adapter through its own
// package.
func TestAdapterDependenciesAreTheirOwn(t *testing.T) {
	const prom, otel = "github.com/prometheus/client_golang", "go.opentelemetry.io/otel"
	for _, c := range []struct {
		dir, dep, via string // via: the package that needs dep; "": not needed
	}{
		{".", prom, ""}, {".", otel, ""},
		{"bench", prom, ""}, {"bench", otel, ""},
		{"examples", prom, ""}, {"examples", otel, ""},
		{"contrib/slog", prom, ""}, {"contrib/slog", otel, ""},
		{"contrib/prometheus", prom, module + "/contrib/prometheus"}, {"contrib/prometheus", otel, ""},
		{"contrib/otel", otel, module + "/contrib/otel"}, {"contrib/otel", prom, ""},
		{"cmd/zmqguard", otel, ""},
	} {
		cmd := exec.Command("go", "mod", "why", "-m", c.dep)
		cmd.Dir = filepath.Join("..", "..", c.dir)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.Output()
		require.NoError(t, err, "go mod why in %s: %s", c.dir, stderrOf(err))
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if c.via == "" {
			assert.Contains(t, string(out), "main module does not need module "+c.dep, "%s needs %s", c.dir, c.dep)
			continue
		}
		require.GreaterOrEqual(t, len(lines), 2, "%s: %s", c.dir, out)
		assert.Equal(t, c.via, lines[1], "%s needs %s through %s", c.dir, c.dep, lines[1])
	}
}
