package sysenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// allowed are the files that may read the wall clock or crypto/rand
// directly: the defaults here. Paths are relative to the module root.
var allowed = map[string]bool{
	"internal/sysenv/sysenv.go": true,
}

// banned lists, per import path, the identifiers that read the wall clock
// or the operating system's random source.
var banned = map[string]map[string]bool{
	"time":        {"Now": true, "Since": true, "Until": true},
	"crypto/rand": nil, // every identifier of the package
}

// TestNoDirectClockOrRandom parses every non-test Go file of the repository
// (the cgo benchmark module under bench/ too) and
// fails when one outside the allowed defaults refers to time.Now,
// time.Since, time.Until or anything of crypto/rand. Library code takes its
// time and randomness from the clock and reader it was configured with.
func TestNoDirectClockOrRandom(t *testing.T) {
	root := moduleRoot(t)
	bad := scan(t, root)
	for _, b := range bad {
		t.Errorf("%s: library code must take the configured clock or random source (sspi.Env, Config.Now/Rand), not call it directly", b)
	}
}

// TestGuardCatchesAnAddedCall proves the guard is not vacuous: a copy of a
// user-mode file with a time.Now() added is reported.
func TestGuardCatchesAnAddedCall(t *testing.T) {
	root := moduleRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "ntlm", "usermode.go"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.test\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "ntlm"), 0o755)
	clean := filepath.Join(dir, "ntlm", "usermode.go")
	if err := os.WriteFile(clean, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if bad := scan(t, dir); len(bad) != 0 {
		t.Fatalf("clean copy reported: %v", bad)
	}
	tainted := strings.Replace(string(src), "func (userMode) Name() string { return PackageName }",
		"func (userMode) Name() string { _ = time.Now(); return PackageName }", 1)
	aliased := "package ntlm\n\nimport (\n\tcr \"crypto/rand\"\n\tt \"time\"\n)\n\nvar _ = t.Since\nvar r = cr.Reader\n"
	os.WriteFile(clean, []byte(tainted), 0o644)
	os.WriteFile(filepath.Join(dir, "ntlm", "alias.go"), []byte(aliased), 0o644)
	bad := scan(t, dir)
	if len(bad) != 3 {
		t.Fatalf("guard reported %d uses, want 3 (time.Now, t.Since, cr.Reader): %v", len(bad), bad)
	}
}

func TestDefaultClockOverride(t *testing.T) {
	at := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	restore := SetDefaultClockForTest(func() time.Time { return at })
	if !Now().Equal(at) || !Clock(nil)().Equal(at) {
		t.Fatal("override not seen")
	}
	restore()
	if Now().Year() == 2099 {
		t.Fatal("override not restored")
	}
	b := make([]byte, 16)
	if err := Read(nil, b); err != nil || string(b) == string(make([]byte, 16)) {
		t.Fatalf("default random source: %v %x", err, b)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", dir)
	}
	return dir
}

// scan returns "file:line: pkg.Name" for every banned reference under root.
func scan(t *testing.T, root string) []string {
	t.Helper()
	var bad []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || allowed[rel] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		names := map[string]string{} // local name -> import path
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if _, ok := banned[p]; !ok {
				continue
			}
			name := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			if name == "_" {
				bad = append(bad, fset.Position(imp.Pos()).String()+": blank import of "+p)
				continue
			}
			names[name] = p
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			p, ok := names[id.Name]
			if !ok {
				return true
			}
			if set := banned[p]; set == nil || set[sel.Sel.Name] {
				bad = append(bad, fset.Position(sel.Pos()).String()+": "+id.Name+"."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}
