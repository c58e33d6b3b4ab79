package sspi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretsRedacted(t *testing.T) {
	const pw = "Sup3r-Secret-PW"
	hash := []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04}
	key := []byte{0xca, 0xfe, 0xba, 0xbe, 0x05, 0x06, 0x07, 0x08}
	ai := AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: pw, NTHash: hash}
	sk := SecPkgContextSessionKey{SessionKey: key}
	var out []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		out = append(out, fmt.Sprintf(f, ai), fmt.Sprintf(f, &ai), fmt.Sprintf(f, sk), fmt.Sprintf(f, &sk))
	}
	out = append(out, fmt.Sprint(ai), fmt.Sprintln(&ai, sk), fmt.Errorf("acquire %v: failed", &ai).Error())
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("cred", "identity", ai, "ptr", &ai, "key", sk)
	}
	out = append(out, buf.String())
	all := strings.Join(out, "\n")
	for _, secret := range []string{pw, fmt.Sprintf("%x", hash), fmt.Sprintf("%x", key), "222 173 190 239", "202 254 186 190", "deadbeef", "cafebabe"} {
		if strings.Contains(strings.ToLower(all), strings.ToLower(secret)) {
			t.Errorf("secret %q printed:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, "alice") || !strings.Contains(all, redacted) {
		t.Errorf("redacted forms lost the non-secret fields:\n%s", all)
	}
}

func TestErrorCause(t *testing.T) {
	cause := fmt.Errorf("dial kdc: %w", context.DeadlineExceeded)
	err := error(&Error{Op: "InitializeSecurityContext", Status: SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "no KDC answered", Err: cause})
	if !errors.Is(err, SEC_E_NO_AUTHENTICATING_AUTHORITY) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("errors.Is lost the status or the cause: %v", err)
	}
	if StatusOf(err) != SEC_E_NO_AUTHENTICATING_AUTHORITY {
		t.Fatalf("StatusOf = %v", StatusOf(err))
	}
	if !strings.Contains(err.Error(), "no KDC answered: dial kdc: context deadline exceeded") {
		t.Fatalf("message %q", err.Error())
	}
	if errors.Is(&Error{Status: SEC_E_LOGON_DENIED}, context.DeadlineExceeded) {
		t.Fatal("an error without a cause matched one")
	}
	// A cause the detail already says is not printed twice.
	same := &Error{Op: "AcceptSecurityContext", Status: SEC_E_LOGON_DENIED, Detail: "NTLM: SEC_E_LOGON_DENIED", Err: errors.New("NTLM: SEC_E_LOGON_DENIED")}
	if got, want := same.Error(), "AcceptSecurityContext: SEC_E_LOGON_DENIED (0x8009030C): NTLM: SEC_E_LOGON_DENIED"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
