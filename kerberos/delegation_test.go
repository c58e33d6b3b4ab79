package kerberos

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// krbCredRecording is a KRB-CRED that MIT's initiator delegated, with the
// keys that open it: the ticket session key and the authenticator subkey.
type krbCredRecording struct {
	KeyType    int32  `json:"key_type"`
	Key        string `json:"key"`
	SubkeyType int32  `json:"subkey_type"`
	Subkey     string `json:"subkey"`
	Client     string `json:"client"`
	KRBCred    string `json:"krb_cred"`
}

const krbCredRecordingFile = "testdata/s4u/mit-krb-cred.json"

// mitDelegation returns the KRB-CRED in the authenticator checksum (RFC
// 4121 4.1.1, Dlgth/Deleg) of an AP-REQ that MIT's initiator made with
// GSS_C_DELEG_FLAG, opened with the service keytab.
func mitDelegation(t *testing.T) krbCredRecording {
	t.Helper()
	realm := liveRealm(t)
	mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
	r := mit.call(map[string]any{"op": "init", "target": "HTTP@svc.localhost", "flags": []string{"mutual", "deleg"}}, false)
	var ap messages.APReq
	if err := ap.Unmarshal(innerOf(r.token())); err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(realm.svcKeytab)
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.Ticket.DecryptEncPart(kt, nil); err != nil {
		t.Fatal(err)
	}
	key := ap.Ticket.DecryptedEncPart.Key
	if err := ap.DecryptAuthenticator(key); err != nil {
		t.Fatal(err)
	}
	ck, err := parseGSSChecksum(ap.Authenticator.Cksum.Checksum)
	if err != nil || ck.Flags&gssDelegFlag == 0 || ck.Deleg == nil {
		t.Fatalf("MIT's checksum carries no delegation: %v", err)
	}
	sub := ap.Authenticator.SubKey
	return krbCredRecording{KeyType: key.KeyType, Key: hex.EncodeToString(key.KeyValue), SubkeyType: sub.KeyType, Subkey: hex.EncodeToString(sub.KeyValue),
		Client: "alice@" + realm.Name, KRBCred: hex.EncodeToString(ck.Deleg)}
}

// TestMITKRBCred: the acceptor opens the KRB-CRED MIT's initiator delegates
// into a ccache holding alice's forwarded TGT; with -record it is kept for
// FuzzKRBCred.
func TestMITKRBCred(t *testing.T) {
	rec := mitDelegation(t)
	ac := &acceptorContext{cred: &credential{pkg: New(Config{})}}
	key := types.EncryptionKey{KeyType: rec.KeyType, KeyValue: unhex(t, rec.Key)}
	sub := types.EncryptionKey{KeyType: rec.SubkeyType, KeyValue: unhex(t, rec.Subkey)}
	d, err := ac.delegated(unhex(t, rec.KRBCred), rec.Client, key, sub)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := parseCCache(d.CCache)
	if err != nil || len(cc.Creds) != 1 || cc.Creds[0].Server.Components[0] != "krbtgt" || cc.Principal.Components[0] != "alice" {
		t.Fatalf("delegated ccache %+v: %v", cc, err)
	}
	if !*record {
		return
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	writeFile(t, krbCredRecordingFile, append(b, '\n'))
	dir := filepath.Join("testdata", "fuzz", "FuzzKRBCred")
	os.MkdirAll(dir, 0o755)
	writeSeedFile(t, filepath.Join(dir, "mit-krb-cred"), unhex(t, rec.KRBCred))
}

// FuzzKRBCred runs the acceptor's KRB-CRED decoding (the delegated TGT of
// an authenticator checksum) on mutations of MIT's, with its keys: no
// panic, and what it accepts makes a ccache that parses.
func FuzzKRBCred(f *testing.F) {
	b, err := os.ReadFile(krbCredRecordingFile)
	if err != nil {
		f.Fatal(err)
	}
	var rec krbCredRecording
	if err := json.Unmarshal(b, &rec); err != nil {
		f.Fatal(err)
	}
	f.Add(unhex(f, rec.KRBCred))
	ac := &acceptorContext{cred: &credential{pkg: New(Config{})}}
	key := types.EncryptionKey{KeyType: rec.KeyType, KeyValue: unhex(f, rec.Key)}
	sub := types.EncryptionKey{KeyType: rec.SubkeyType, KeyValue: unhex(f, rec.Subkey)}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ac.delegated(b, rec.Client, key, sub)
		if err != nil {
			return
		}
		if _, err := parseCCache(d.CCache); err != nil {
			t.Fatalf("accepted KRB-CRED makes a ccache that does not parse: %v", err)
		}
	})
}
