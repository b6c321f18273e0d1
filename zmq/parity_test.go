package zmq_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deliberateDifferences lists every exported pebbe/zmq4 v1.4.0 identifier
// whose zmqguard counterpart is missing or has a different signature, with
// the reason. docs/MIGRATION.md carries the same list. Identifiers that
// zmqguard adds are not listed. Keys are those printed by the parity test
// ("func NewContext", "method (*Socket).String", ...).
var deliberateDifferences = map[string]string{
	"func NewContext": "takes variadic ContextOptions (WithLinger, WithTermTimeout); NewContext() still compiles",
	"method (Socket).String": "pointer receiver: zmqguard sockets are only used through *Socket " +
		"(a Socket value holds a mutex); soc.String() and fmt.Print(soc) work as before",
}

// pebbeDir returns the directory of the pebbe/zmq4 module in use.
func pebbeDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/pebbe/zmq4").Output()
	require.NoError(t, err, "go list github.com/pebbe/zmq4")
	return strings.TrimSpace(string(out))
}

// apiDecl is one exported declaration: its kind and a signature with
// parameter names dropped.
type apiDecl struct {
	key string // e.g. "method (*Socket).Bind"
	sig string // e.g. "func(string) error"
}

// parsePkg parses the non-test Go files that build on this platform (so
// pebbe's *_windows.go files are skipped).
func parsePkg(t *testing.T, dir string) []*ast.File {
	t.Helper()
	bp, err := build.ImportDir(dir, 0)
	require.NoError(t, err, dir)
	fset := token.NewFileSet()
	var files []*ast.File
	names := append(append([]string{}, bp.GoFiles...), bp.CgoFiles...)
	sort.Strings(names)
	for _, name := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		files = append(files, f)
	}
	return files
}

// interesting are the receiver types whose exported methods are compared.
var interesting = map[string]bool{"Socket": true, "Context": true, "Poller": true, "Reactor": true, "Errno": true}

// collectAPI returns the exported API of the files: package-level funcs,
// consts, vars and types, exported fields of exported struct types, and
// the exported methods of the interesting types. pebbe, when non-nil, is
// pebbe's API, used to resolve zmqguard declarations that refer to pebbe
// (REQ = zmq4.REQ, type Type = zmq4.Type).
func collectAPI(files []*ast.File, pebbe map[string]apiDecl) map[string]apiDecl {
	api := map[string]apiDecl{}
	add := func(key, sig string) { api[key] = apiDecl{key, sig} }
	// Types first, so that consts can be typed by conversion.
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, sp := range gd.Specs {
				ts := sp.(*ast.TypeSpec)
				if !ts.Name.IsExported() {
					continue
				}
				name := ts.Name.Name
				if ts.Assign.IsValid() {
					// An alias of pebbe's type of the same name is that
					// very type: same underlying type, same methods.
					if sel, ok := ts.Type.(*ast.SelectorExpr); ok && pebbe != nil &&
						types.ExprString(sel.X) == "zmq4" && sel.Sel.Name == name {
						if d, ok := pebbe["type "+name]; ok {
							add("type "+name, d.sig)
							continue
						}
					}
					add("type "+name, "= "+types.ExprString(ts.Type))
					continue
				}
				if st, ok := ts.Type.(*ast.StructType); ok {
					add("type "+name, "struct")
					for _, fld := range st.Fields.List {
						for _, n := range fld.Names {
							if n.IsExported() {
								add("field "+name+"."+n.Name, types.ExprString(fld.Type))
							}
						}
					}
					continue
				}
				add("type "+name, types.ExprString(ts.Type))
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					add("func "+d.Name.Name, funcSig(d.Type))
					continue
				}
				rt := d.Recv.List[0].Type
				ptr := ""
				if st, ok := rt.(*ast.StarExpr); ok {
					rt, ptr = st.X, "*"
				}
				id, ok := rt.(*ast.Ident)
				if !ok || !interesting[id.Name] {
					continue
				}
				add("method ("+ptr+id.Name+")."+d.Name.Name, funcSig(d.Type))
			case *ast.GenDecl:
				if d.Tok != token.CONST && d.Tok != token.VAR {
					continue
				}
				kind := "const"
				if d.Tok == token.VAR {
					kind = "var"
				}
				for _, sp := range d.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if !n.IsExported() {
							continue
						}
						var typ string
						switch {
						case vs.Type != nil:
							typ = types.ExprString(vs.Type)
						case i < len(vs.Values):
							typ = valueType(vs.Values[i], kind, pebbe)
						default:
							typ = "?"
						}
						add(kind+" "+n.Name, typ)
					}
				}
			}
		}
	}
	return api
}

// valueType infers the type of a const or var from its value, the way
// the declarations in both packages are written.
func valueType(v ast.Expr, kind string, pebbe map[string]apiDecl) string {
	switch v := v.(type) {
	case *ast.BasicLit:
		return "untyped " + strings.ToLower(v.Kind.String())
	case *ast.CallExpr:
		fun := types.ExprString(v.Fun)
		switch fun {
		case "errors.New", "fmt.Errorf":
			return "error"
		}
		if _, ok := v.Fun.(*ast.Ident); ok {
			return fun // a conversion: Type(C.ZMQ_REQ), Errno(...)
		}
	case *ast.SelectorExpr:
		if types.ExprString(v.X) == "zmq4" && pebbe != nil {
			if d, ok := pebbe[kind+" "+v.Sel.Name]; ok {
				return d.sig
			}
		}
	}
	return "? " + types.ExprString(v)
}

func funcSig(ft *ast.FuncType) string {
	list := func(fl *ast.FieldList) []string {
		var out []string
		if fl == nil {
			return out
		}
		for _, f := range fl.List {
			n := max(len(f.Names), 1)
			for range n {
				out = append(out, types.ExprString(f.Type))
			}
		}
		return out
	}
	sig := "func(" + strings.Join(list(ft.Params), ", ") + ")"
	if res := list(ft.Results); len(res) == 1 {
		sig += " " + res[0]
	} else if len(res) > 1 {
		sig += " (" + strings.Join(res, ", ") + ")"
	}
	return sig
}

// TestAPIParity compares the exported API of pebbe/zmq4 with zmqguard's:
// every pebbe identifier must exist in zmqguard with the same signature
// (parameter names ignored), or be listed in deliberateDifferences.
func TestAPIParity(t *testing.T) {
	pebbe := collectAPI(parsePkg(t, pebbeDir(t)), nil)
	ours := collectAPI(parsePkg(t, "."), pebbe)
	require.Greater(t, len(pebbe), 300, "parsed pebbe/zmq4's API")

	keys := make([]string, 0, len(pebbe))
	for k := range pebbe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unlisted []string
	differs := map[string]bool{}
	for _, k := range keys {
		p := pebbe[k]
		o, ok := ours[k]
		if ok && o.sig == p.sig {
			continue
		}
		// A method may legitimately move between value and pointer
		// receiver; report it under pebbe's key.
		desc := fmt.Sprintf("%s: pebbe %q, zmqguard missing", k, p.sig)
		if ok {
			desc = fmt.Sprintf("%s: pebbe %q, zmqguard %q", k, p.sig, o.sig)
		} else if strings.HasPrefix(k, "method (") {
			alt := strings.Replace(k, "(", "(*", 1)
			if strings.HasPrefix(k, "method (*") {
				alt = strings.Replace(k, "(*", "(", 1)
			}
			if o, ok := ours[alt]; ok {
				desc = fmt.Sprintf("%s: pebbe %q, zmqguard has %s %q", k, p.sig, alt, o.sig)
			}
		}
		differs[k] = true
		if _, listed := deliberateDifferences[k]; listed {
			t.Logf("deliberate: %s (%s)", desc, deliberateDifferences[k])
			continue
		}
		unlisted = append(unlisted, desc)
	}
	assert.Empty(t, unlisted, "pebbe/zmq4 identifiers missing or changed in zmqguard; "+
		"fix zmq/ or add them to deliberateDifferences (and docs/MIGRATION.md):\n%s", strings.Join(unlisted, "\n"))
	for k := range deliberateDifferences {
		assert.True(t, differs[k], "deliberateDifferences lists %q, which no longer differs: remove it", k)
	}
	t.Logf("compared %d pebbe/zmq4 identifiers; zmqguard exports %d", len(pebbe), len(ours))
}

// TestMigrationDocListsDifferences keeps docs/MIGRATION.md in step with
// the parity table: its "Deliberate API differences" table has one row per
// entry, naming the identifier.
func TestMigrationDocListsDifferences(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "MIGRATION.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(doc), "## Deliberate API differences")
	require.True(t, ok, "docs/MIGRATION.md has a Deliberate API differences section")
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	assert.Len(t, rows, len(deliberateDifferences), "one table row per deliberate difference")
	for k := range deliberateDifferences {
		name := k[strings.LastIndexAny(k, " .")+1:]
		found := false
		for _, r := range rows {
			found = found || strings.Contains(r, " "+name+"(")
		}
		assert.True(t, found, "docs/MIGRATION.md's table should describe %s", k)
	}
}

// TestGeneratedAPIUpToDate fails when zmq/api_gen.go is not what
// internal/apigen writes for the pebbe/zmq4 version in go.mod.
func TestGeneratedAPIUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out := filepath.Join(t.TempDir(), "api_gen.go")
	cmd := exec.Command("go", "run", "../internal/apigen", "-o", out)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile("api_gen.go")
	require.NoError(t, err)
	if !bytes.Equal(want, got) {
		t.Fatalf("zmq/api_gen.go is stale: run `go generate ./zmq` (apigen output differs from the committed file)")
	}
}

// TestMigratedProgramBuilds builds a realistic pebbe/zmq4 program
// (testdata/pebbeprog) twice in a scratch module: as written, and with only
// its import path changed to zmqguard's. Both must build.
func TestMigratedProgramBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	src, err := os.ReadFile(filepath.Join("testdata", "pebbeprog", "main.go"))
	require.NoError(t, err)
	const pebbeImport = `zmq "github.com/pebbe/zmq4"`
	require.Equal(t, 1, bytes.Count(src, []byte(pebbeImport)))
	migrated := bytes.Replace(src, []byte(pebbeImport), []byte(`zmq "github.com/zmqguard/zmqguard/zmq"`), 1)

	root, err := filepath.Abs("..")
	require.NoError(t, err)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	dir := t.TempDir()
	gomod := "module example.com/migrated\n\ngo 1.25\n\n" +
		"require (\n\tgithub.com/pebbe/zmq4 v1.4.0\n\tgithub.com/zmqguard/zmqguard v0.0.0\n)\n\n" +
		"replace github.com/zmqguard/zmqguard => " + root + "\n"
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	write("go.mod", []byte(gomod))
	write("go.sum", sum)
	write("pebbe/main.go", src)
	write("zmqguard/main.go", migrated)

	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin")+string(filepath.Separator), "./...")
	cmd.Dir = dir
	// Hermetic: everything needed is in the module cache already.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the pebbe program no longer builds after changing its import path:\n%s", out)
	for _, bin := range []string{"pebbe", "zmqguard"} {
		_, err := os.Stat(filepath.Join(dir, "bin", bin))
		assert.NoError(t, err, "built %s", bin)
	}
}
