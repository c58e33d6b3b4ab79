package sspi_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// FuzzImportSecurityContext feeds ImportSecurityContext (each package's
// SpInitUserModeContext parser) arbitrary ContextData: it must fail with a
// status, never panic, and a context it accepts must answer queries and
// refuse a garbage message without panicking. Seeds are real exported
// contexts (internal/ctxdata/testdata/fuzz/FuzzParse).
func FuzzImportSecurityContext(f *testing.F) {
	seeds, _ := filepath.Glob("../internal/ctxdata/testdata/fuzz/FuzzParse/*")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			continue
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(v))
	}
	host, err := lsa.New(lsa.Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer host.Close()
	user := []sspi.UserModePackage{ntlm.UserMode(), kerberos.UserMode(), sspitest.UserMode{}}
	tbl := sspi.InitSecurityInterface(host, append(user, negotiate.NewUserMode(user...))...)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pkg := range []string{"NTLM", "Kerberos", "Negotiate", sspitest.Name} {
			var h sspi.CtxtHandle
			if st := tbl.ImportSecurityContext(pkg, data, &h); st.Failed() {
				continue
			}
			var sz sspi.SecPkgContextSizes
			tbl.QueryContextAttributes(&h, sspi.SECPKG_ATTR_SIZES, &sz)
			var names sspi.SecPkgContextNames
			tbl.QueryContextAttributes(&h, sspi.SECPKG_ATTR_NAMES, &names)
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), data...)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
			if st := tbl.DecryptMessage(&h, d, 0, nil); st == sspi.SEC_E_OK && len(data) < 16 {
				t.Errorf("%s: a %d-byte stream unsealed", pkg, len(data))
			}
			w := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 64)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("x")}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING, Buffer: make([]byte, 16)})
			tbl.EncryptMessage(&h, 0, w, 0)
			if st := tbl.DeleteSecurityContext(&h); st != sspi.SEC_E_OK {
				t.Errorf("%s: delete imported: %v", pkg, st)
			}
		}
	})
}
