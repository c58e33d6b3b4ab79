package negotiate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// seedTokens returns real tokens (MIT, curl, Windows) and tokens of a toy
// handshake, for the state-machine fuzz targets.
func seedTokens(f *testing.F) [][]byte {
	out := loadLegs(f, "mit-ntlm-handshake.jsonl")
	for _, n := range []string{"mit-ntlm-gosspi-client.json", "mit-ntlm-gosspi-server.json", "mit-krb5-gosspi-server.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		var tr transcript
		if err := json.Unmarshal(b, &tr); err != nil {
			f.Fatal(err)
		}
		for _, l := range tr.Legs {
			out = append(out, unhex(f, l))
		}
	}
	out = append(out, unhex(f, windowsNegTokenInit2))
	krb, ntlm := newToys()
	n := newNego(f, krb, ntlm)
	h := newHS(f, n, n)
	h.scred = acquire(f, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	if err := h.run(); err != nil {
		f.Fatal(err)
	}
	return append(out, h.legs...)
}

func fuzzStatus(t *testing.T, err error) {
	if err == nil {
		return
	}
	if st := sspi.StatusOf(err); !st.Failed() || st == sspi.SEC_E_INTERNAL_ERROR {
		t.Fatalf("bad status %v for %v", st, err)
	}
}

// FuzzAccept feeds arbitrary tokens to the acceptor (over the toy
// mechanisms): a first token and a continuation. It must never panic and
// must fail with a SEC_E_* status.
func FuzzAccept(f *testing.F) {
	toks := seedTokens(f)
	for i, a := range toks {
		f.Add(a, toks[(i+2)%len(toks)])
	}
	krb, ntlm := newToys()
	n := newNego(f, krb, ntlm)
	cred := acquire(f, n, sspi.SECPKG_CRED_INBOUND, nil)
	f.Fuzz(func(t *testing.T, first, second []byte) {
		d := func(b []byte) *sspi.SecBufferDesc {
			return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: b})
		}
		c, out, err := n.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: d(first)})
		fuzzStatus(t, err)
		if err != nil || out.Status == sspi.SEC_E_OK {
			return
		}
		_, _, err = n.AcceptLsaModeContext(context.Background(), cred, c, &secpkg.AcceptContextParams{Input: d(second)})
		fuzzStatus(t, err)
		c.Delete()
	})
}

// FuzzInitiate feeds arbitrary acceptor answers to the initiator.
func FuzzInitiate(f *testing.F) {
	for _, b := range seedTokens(f) {
		f.Add(b)
	}
	krb, ntlm := newToys()
	n := newNego(f, krb, ntlm)
	cred := acquire(f, n, sspi.SECPKG_CRED_OUTBOUND, nil)
	f.Fuzz(func(t *testing.T, answer []byte) {
		c, _, err := n.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: "HTTP/h", ContextReq: sspi.ISC_REQ_MUTUAL_AUTH})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Delete()
		_, _, err = n.InitLsaModeContext(context.Background(), cred, c, &secpkg.InitContextParams{TargetName: "HTTP/h",
			Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: answer})})
		fuzzStatus(t, err)
	})
}
