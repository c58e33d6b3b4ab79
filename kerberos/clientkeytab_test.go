package kerberos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// clientIdentity runs a handshake with cred to HTTP/svc.localhost and
// returns the client principal the acceptor saw.
func clientIdentity(t *testing.T, p *Package, cred secpkg.LsaCredential) string {
	t.Helper()
	realm := liveRealm(t)
	pr, err := handshake(t, p, p, cred, serverCred(t, p, realm.svcKeytab, ""), svcSPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	return id.(sspi.Identity).Principal
}

// TestClientKeytabEnv: an initiator with no ccache and no password takes
// its key from the client keytab, as MIT's does: KRB5_CLIENT_KTNAME, else
// krb5.conf's default_client_keytab_name (with %{euid}).
func TestClientKeytabEnv(t *testing.T) {
	realm := liveRealm(t)
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "no-such-ccache"))
	acquire := func(p *Package, principal string) (secpkg.LsaCredential, error) {
		c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, Principal: principal})
		return c, err
	}

	// KRB5_CLIENT_KTNAME; the principal is the keytab's first.
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+realm.batchKeytab)
	p := New(Config{})
	cred, err := acquire(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if id := clientIdentity(t, p, cred); id != "batch@"+realm.Name {
		t.Fatalf("identity %q", id)
	}
	cred.Free()
	// A principal the keytab does not have.
	if _, err := acquire(p, "alice"); !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), "client keytab "+realm.batchKeytab) {
		t.Fatalf("err = %v", err)
	}

	// default_client_keytab_name, with %{euid}; KRB5_CLIENT_KTNAME unset.
	dir := t.TempDir()
	euidDir := filepath.Join(dir, strconv.Itoa(os.Geteuid()))
	os.MkdirAll(euidDir, 0o700)
	b, err := os.ReadFile(realm.batchKeytab)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(euidDir, "client.keytab"), b)
	conf := krb5ConfFor(t, realm.Name, realm.Port, "default_client_keytab_name = FILE:"+dir+"/%{euid}/client.keytab")
	t.Setenv("KRB5_CLIENT_KTNAME", "")
	p = New(Config{Krb5Conf: conf})
	cred, err = acquire(p, "batch@"+realm.Name)
	if err != nil {
		t.Fatal(err)
	}
	if id := clientIdentity(t, p, cred); id != "batch@"+realm.Name {
		t.Fatalf("identity %q", id)
	}
	cred.Free()

	// KRB5_CLIENT_KTNAME wins over krb5.conf.
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+filepath.Join(dir, "missing.keytab"))
	if _, err := acquire(p, ""); !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("err = %v", err)
	}

	// A ccache with a TGT is used first.
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+realm.batchKeytab)
	t.Setenv("KRB5CCNAME", "FILE:"+realm.fwdCCache)
	p = New(Config{})
	cred, err = acquire(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if id := clientIdentity(t, p, cred); id != "alice@"+realm.Name {
		t.Fatalf("identity %q", id)
	}
	cred.Free()
}

var (
	shortlived    sync.Once
	shortlivedKT  string
	shortlivedErr error
)

// TestClientKeytabRenewal: a TGT from a client keytab is got again when
// it has expired, as MIT's initiator refreshes it. The principal's tickets
// last a minute; the clock moves two minutes on (within the clock skew).
func TestClientKeytabRenewal(t *testing.T) {
	realm := liveRealm(t)
	shortlived.Do(func() {
		if shortlivedKT, shortlivedErr = realm.AddService("shortlived"); shortlivedErr == nil {
			_, shortlivedErr = realm.Kadmin(`modprinc -maxlife "1 minute" shortlived`)
		}
	})
	if shortlivedErr != nil {
		t.Fatal(shortlivedErr)
	}
	kt := shortlivedKT
	var offset atomic.Int64
	p := New(Config{Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "shortlived", Options: map[string]string{"client_keytab": kt}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	cred := c.(*credential)
	first := cred.tgts[realm.Name]
	if d := first.endTime.Sub(first.authTime); d > time.Minute {
		t.Fatalf("TGT lasts %v", d)
	}
	offset.Store(int64(2 * time.Minute))
	if id := clientIdentity(t, p, c); id != "shortlived@"+realm.Name {
		t.Fatalf("identity %q", id)
	}
	cred.mu.Lock()
	second := cred.tgts[realm.Name]
	cred.mu.Unlock()
	if second == first {
		t.Fatal("the expired TGT was not replaced from the keytab")
	}
}
