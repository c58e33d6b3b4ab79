package kerberos

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The parsers of the KCM replies, the keyring payloads and the DIR primary
// file, fuzzed from what sssd-kcm and MIT's keyring code wrote
// (testdata/kcm and testdata/keyring, recorded by TestKCMCCache and
// TestKEYRINGCCache with -record), and checked on those recordings
// without the peers.

// recorded reads the hex files of testdata/dir; names are opN-i.hex or
// KIND-i.hex, and the key is N or KIND.
func recorded(t testing.TB, dir string) map[string][][]byte {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatalf("recorded %s: %v (record with -record)", dir, err)
	}
	out := map[string][][]byte{}
	for _, e := range ents {
		kind, _, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".hex"), "-")
		if !ok {
			continue
		}
		h, err := os.ReadFile(filepath.Join("testdata", dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(h)))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[strings.TrimPrefix(kind, "op")] = append(out[strings.TrimPrefix(kind, "op")], b)
	}
	return out
}

// kcmParse reads a reply frame to op and parses its results as the
// client does.
func kcmParse(op uint16, frame []byte) (any, error) {
	r, err := readKCMReply(bytes.NewReader(frame), op)
	if err != nil {
		return nil, err
	}
	switch op {
	case kcmOpGetPrincipal:
		return parseCCPrincipal(r)
	case kcmOpGetCredList:
		return parseKCMCredList(r)
	case kcmOpGetCredByUUID:
		return parseCCCred(r)
	case kcmOpGetCredUUIDList, kcmOpGetCacheUUIDList:
		return parseKCMUUIDs(r)
	case kcmOpGetDefaultCache, kcmOpGetCacheByUUID, kcmOpGenNew:
		return parseKCMName(r)
	}
	return r, nil
}

// What sssd-kcm answered parses into what MIT's kinit stored.
func TestKCMRecordedReplies(t *testing.T) {
	rec := recorded(t, "kcm")
	n := 0
	for k, frames := range rec {
		op, _ := strconv.Atoi(k)
		for _, f := range frames {
			v, err := kcmParse(uint16(op), f)
			if _, refused := err.(*kcmError); refused {
				continue // a refusal the test provoked (sssd-kcm has no REPLACE)
			} else if err != nil {
				t.Errorf("op %d: %v", op, err)
				continue
			}
			n++
			switch v := v.(type) {
			case ccPrincipal:
				if v.Realm != "GOSSPI.TEST" || len(v.Components) != 1 {
					t.Errorf("GET_PRINCIPAL: %v", v)
				}
			case []ccCred:
				tgt := false
				for _, cr := range v {
					tgt = tgt || !cr.isConfig() && len(cr.Server.Components) == 2 && cr.Server.Components[0] == "krbtgt" && len(cr.Key) > 0
				}
				if !tgt {
					t.Errorf("GET_CRED_LIST: no TGT in %d credentials", len(v))
				}
			case ccCred:
				if len(v.Ticket) == 0 {
					t.Error("GET_CRED_BY_UUID: no ticket")
				}
			case string:
				if !strings.HasPrefix(v, "0") {
					t.Errorf("op %d: cache name %q, want root's", op, v)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d recorded replies parse", n)
	}
	// Truncations of each reply fail, never panic.
	for k, frames := range rec {
		op, _ := strconv.Atoi(k)
		for _, f := range frames {
			for i := 0; i < len(f); i += 1 + len(f)/64 {
				if _, err := kcmParse(uint16(op), f[:i]); err == nil && i < 8 {
					t.Errorf("op %d: a %d-byte reply parsed", op, i)
				}
			}
		}
	}
}

var kcmFuzzOps = []uint16{kcmOpGetPrincipal, kcmOpGetCredList, kcmOpGetCredByUUID, kcmOpGetCredUUIDList, kcmOpGetCacheUUIDList, kcmOpGetDefaultCache, kcmOpGetCacheByUUID, kcmOpGenNew}

// FuzzKCMReply runs every reply parser of the KCM client on a frame; a
// credential list that parses survives re-encoding.
func FuzzKCMReply(f *testing.F) {
	for _, frames := range recorded(f, "kcm") {
		for _, fr := range frames {
			f.Add(fr)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, o := range kcmFuzzOps {
			v, err := kcmParse(o, frame)
			if err != nil {
				continue
			}
			if creds, ok := v.([]ccCred); ok {
				var b []byte
				b = append(b, 0, 0, 0, 0)
				for i := range creds {
					b = appendCCData(b, appendCCCred(nil, &creds[i]))
				}
				b[0], b[1], b[2], b[3] = byte(len(creds)>>24), byte(len(creds)>>16), byte(len(creds)>>8), byte(len(creds))
				again, err := parseKCMCredList(b)
				if err != nil || len(again) != len(creds) {
					t.Fatalf("re-encoded credential list does not parse: %v", err)
				}
			}
		}
	})
}

// What MIT's kinit put in the keyring parses.
func TestKeyringRecordedPayloads(t *testing.T) {
	rec := recorded(t, "keyring")
	for kind, want := range map[string]int{"princ": 1, "cred": 1, "primary": 1} {
		if len(rec[kind]) < want {
			t.Fatalf("no recorded %s payload", kind)
		}
	}
	for _, b := range rec["princ"] {
		if p, err := parseCCPrincipal(b); err != nil || p.Realm != "GOSSPI.TEST" {
			t.Errorf("__krb5_princ__: %v %v", p, err)
		}
	}
	for _, b := range rec["cred"] {
		if cr, err := parseCCCred(b); err != nil || len(cr.Ticket) == 0 {
			t.Errorf("credential key: %v", err)
		}
	}
	for _, b := range rec["primary"] {
		if name, err := parseKeyringPrimary(b); err != nil || name == "" {
			t.Errorf("krb_ccache:primary: %q %v", name, err)
		}
	}
	for _, b := range rec["desc"] {
		if typ, _, ok := parseKeyDescription(string(b)); !ok || typ == "" {
			t.Errorf("description %q", b)
		}
	}
}

// FuzzKeyringPayload runs the parsers of the keys of a keyring cache: the
// principal, a credential, the collection's primary key, a key
// description, a keyring's serial list and a cache name.
func FuzzKeyringPayload(f *testing.F) {
	for _, bs := range recorded(f, "keyring") {
		for _, b := range bs {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parseCCPrincipal(b); err == nil {
			if q, err := parseCCPrincipal(appendCCPrincipal(nil, p)); err != nil || !q.equal(p) {
				t.Fatalf("principal does not survive re-encoding: %v", err)
			}
		}
		if cr, err := parseCCCred(b); err == nil {
			if _, err := parseCCCred(appendCCCred(nil, &cr)); err != nil {
				t.Fatalf("credential does not survive re-encoding: %v", err)
			}
			_ = cr.Server.unparse()
		}
		if name, err := parseKeyringPrimary(b); err == nil {
			if again, err := parseKeyringPrimary(keyringPrimaryPayload(name)); err != nil || again != name {
				t.Fatalf("primary %q does not survive re-encoding: %v", name, err)
			}
		}
		parseKeyDescription(string(b))
		parseKeySerials(b)
		if n, err := parseKeyringResidual(string(b)); err == nil {
			_ = n.cacheName(n.defaultSubsidiary())
		}
	})
}

// FuzzDIRPrimary: whatever a DIR collection's primary file holds, the name
// it yields is a file of the directory.
func FuzzDIRPrimary(f *testing.F) {
	for _, bs := range recorded(f, "dircc") { // MIT's and ours
		for _, b := range bs {
			f.Add(b)
		}
	}
	f.Add([]byte("../../etc/passwd\n"))
	f.Add([]byte("tkt/../x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := parseDIRPrimary(b)
		if err != nil {
			return
		}
		if p := filepath.Join("/d", name); filepath.Dir(p) != "/d" || !strings.HasPrefix(filepath.Base(p), "tkt") {
			t.Fatalf("primary %q leaves the directory: %s", name, p)
		}
	})
}
