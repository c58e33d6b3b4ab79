package gosspi_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestREADMESamplesCompile type-checks every ```go block of README.md as
// it stands, inside a function whose parameters are the names the samples
// leave to the reader (ctx, exchange, host). Unused variables are allowed
// (they are soft errors); anything else, such as a renamed API, fails.
func TestREADMESamplesCompile(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d Go samples in README.md", len(blocks))
	}
	imports := map[string]string{
		"gosspi.": "github.com/gosspi/gosspi", "sspi.": "github.com/gosspi/gosspi/sspi", "ntlm.": "github.com/gosspi/gosspi/ntlm",
		"kerberos.": "github.com/gosspi/gosspi/kerberos", "httpauth.": "github.com/gosspi/gosspi/httpauth",
		"http.": "net/http", "fmt.": "fmt", "context.": "context",
		"sshauth.": "github.com/gosspi/gosspi/sshauth", "ssh.": "golang.org/x/crypto/ssh", "url.": "net/url",
	}
	var src strings.Builder
	src.WriteString("package readme\n\nimport (\n\t\"context\"\n\t\"github.com/gosspi/gosspi\"\n")
	seen := map[string]bool{"context": true, "github.com/gosspi/gosspi": true}
	for _, m := range blocks {
		for prefix, path := range imports {
			if strings.Contains(m[1], prefix) && !seen[path] {
				seen[path] = true
				src.WriteString("\t\"" + path + "\"\n")
			}
		}
	}
	src.WriteString(")\n")
	for i, m := range blocks {
		src.WriteString("\nfunc sample" + string(rune('A'+i)) + "(ctx context.Context, exchange func([]byte) []byte, host *gosspi.Host) {\n{\n" + m[1] + "}\n}\n")
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "readme.go", src.String(), 0)
	if err != nil {
		t.Fatalf("README samples do not parse: %v\n%s", err, src.String())
	}
	// Export data from the build cache (go list -export) keeps this fast.
	var paths []string
	for p := range seen {
		paths = append(paths, p)
	}
	out, err := exec.Command("go", append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	export := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			export[k] = v
		}
	}
	lookup := func(path string) (io.ReadCloser, error) {
		if f, ok := export[path]; ok && f != "" {
			return os.Open(f)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	}
	var hard []string
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "gc", lookup),
		Error: func(err error) {
			if te, ok := err.(types.Error); ok && te.Soft {
				return
			}
			hard = append(hard, err.Error())
		},
	}
	conf.Check("readme", fset, []*ast.File{f}, nil)
	for _, e := range hard {
		t.Errorf("README sample: %s", e)
	}
}
