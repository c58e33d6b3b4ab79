package mitkrb

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/kcmtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// BenchmarkCCacheAcquire: an initiator credential from a credential cache
// holding alice's TGT (MIT's kinit wrote it), acquired and released: gosspi's
// AcquireCredentialsHandle + Free beside MIT's gss_acquire_cred (with the
// lifetime asked, so that MIT reads the cache) + gss_release_cred, for a
// FILE: cache and a KCM: cache in sssd-kcm.
func BenchmarkCCacheAcquire(b *testing.B) {
	fileCC := os.Getenv("KRB5CCNAME")
	d, err := kcmtest.Start("")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	conf, err := d.Krb5Conf(realm.Krb5Con)
	if err != nil {
		b.Fatal(err)
	}
	kinit := exec.Command("kinit", "alice")
	kinit.Env = append(os.Environ(), "KRB5_CONFIG="+conf, "KRB5CCNAME=KCM:")
	kinit.Stdin = strings.NewReader(password + "\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		b.Fatalf("kinit into KCM: %v\n%s", err, out)
	}
	defer func() {
		os.Setenv("KRB5_CONFIG", realm.Krb5Con)
		os.Setenv("KRB5CCNAME", fileCC)
	}()
	for _, c := range []struct{ name, conf, cc string }{
		{"FILE", realm.Krb5Con, fileCC},
		{"KCM", conf, "KCM:"},
	} {
		os.Setenv("KRB5_CONFIG", c.conf)
		os.Setenv("KRB5CCNAME", c.cc)
		b.Run(c.name+"/gosspi", func(b *testing.B) {
			p := kerberos.New(kerberos.Config{})
			req := &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{}}
			b.ReportAllocs()
			for b.Loop() {
				cr, _, err := p.AcquireCredentialsHandle(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				cr.Free()
			}
		})
		b.Run(c.name+"/mit", func(b *testing.B) {
			if err := AcquireLoop(1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if err := AcquireLoop(b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
}
