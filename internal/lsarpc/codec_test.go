package lsarpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/sspi"
)

// seeds reads a fuzz target's recorded corpus.
func seeds(t *testing.T, target string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded %s corpus: run GOSSPI_LSAD_RECORD=1 go test -run TestRecordRequests ./lsa/lsad", target)
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(data), "\n", 3)
		v, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "[]byte(")
		if !ok {
			t.Fatalf("%s: not a []byte corpus entry", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// Every recorded request and reply decodes, re-encodes and decodes again
// to the same value; every truncation of one is refused.
func TestRecordedFramesRoundTrip(t *testing.T) {
	ops := map[Op]bool{}
	for _, p := range seeds(t, "FuzzDecodeRequest") {
		r, err := DecodeRequest(p)
		if err != nil {
			t.Fatalf("recorded request: %v", err)
		}
		ops[r.Op] = true
		b, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeRequest(b[4:])
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, r, r2)
		}
		for n := 0; n < len(p); n++ {
			if _, err := DecodeRequest(p[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v truncated to %d bytes: %v", r.Op, n, err)
			}
		}
	}
	for _, op := range []Op{OpEnumeratePackages, OpQueryPackageInfo, OpAcquireCredentials, OpFreeCredentials, OpInitContext, OpAcceptContext, OpDeleteContext, OpQueryContextAttributes} {
		if !ops[op] {
			t.Errorf("no recorded %v request", op)
		}
	}
	for _, p := range seeds(t, "FuzzDecodeReply") {
		r, err := DecodeReply(p)
		if err != nil {
			t.Fatalf("recorded reply: %v", err)
		}
		b, err := AppendReply(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[4:], p) {
			t.Fatalf("%v reply does not re-encode to the same bytes", r.Op)
		}
	}
}

// A count that claims more items than the message could hold is refused
// before anything is allocated for them.
func TestCountsBoundedByInput(t *testing.T) {
	e := enc{b: []byte{0, 0, 0, 0}}
	e.u8(uint8(OpAcceptContext))
	e.u64(7)
	e.handle(sspi.SecHandle{Lower: 1, Upper: 2})
	e.handle(sspi.SecHandle{})
	e.u32(0)
	e.u32(0)
	e.u8(1)
	e.u32(0)
	e.u32(0xffffffff) // buffers
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeRequest(e.b[4:]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("huge buffer count: %v", err)
		}
	})
	if allocs > 4 {
		t.Errorf("refusing a huge count allocated %v times", allocs)
	}
	// A byte string longer than the message.
	e2 := enc{b: []byte{0, 0, 0, 0}}
	e2.u8(uint8(OpQueryPackageInfo))
	e2.u64(1)
	e2.u32(1 << 30)
	if _, err := DecodeRequest(e2.b[4:]); !errors.Is(err, ErrMalformed) {
		t.Errorf("string longer than the message: %v", err)
	}
}

func TestFrameCap(t *testing.T) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], DefaultMaxFrame+1)
	_, err := ReadFrame(bytes.NewReader(hdr[:]), DefaultMaxFrame, nil)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
}

// Every attribute type and the errors keep their values across the wire.
func TestAttributesAndErrorsRoundTrip(t *testing.T) {
	when := time.Unix(1_700_000_000, 123).UTC()
	info := sspi.PackageInfo{Name: "Kerberos", Capabilities: 3, MaxToken: 48000, OIDs: []string{"1.2.840.113554.1.2.2"}, Priority: -1}
	for _, v := range []any{
		nil,
		sspi.SecPkgContextSizes{MaxToken: 1, MaxSignature: 2, BlockSize: 3, SecurityTrailer: 4},
		sspi.SecPkgContextStreamSizes{Header: 1, Trailer: 2, MaximumMessage: 3, Buffers: 4, BlockSize: 5},
		sspi.SecPkgContextNames{UserName: `CONTOSO\alice`},
		sspi.SecPkgContextNativeNames{ClientName: "alice@R", ServerName: "HTTP/x@R"},
		sspi.SecPkgContextLifespan{Start: when, Expiry: when.Add(time.Hour)},
		sspi.SecPkgContextSessionKey{SessionKey: []byte{1, 2, 3}},
		sspi.SecPkgContextPackageInfo{PackageInfo: info},
		sspi.SecPkgContextNegotiationInfo{PackageInfo: info, NegotiationState: 2, Skipped: []string{"NTLM: excluded"}},
		sspi.SecPkgContextFlags{Flags: 0x1234},
		sspi.Identity{Package: "Kerberos", User: "alice", Domain: "R", Principal: "alice@R", SID: "S-1-5-21-1-2-3-1104",
			Groups: []string{"S-1-5-21-1-2-3-513"}, GroupAttributes: []uint32{7}, Delegated: true, LogonName: `R\alice`,
			UPN: "alice@r", DNSDomain: "r", LogonTime: when,
			Claims: []sspi.Claim{{ID: "ad://ext/dept", Source: 1, Values: []any{int64(-1), uint64(2), "x", true}}}},
	} {
		b, err := AppendReply(nil, &Reply{Op: OpQueryContextAttributes, ID: 9, Attr: v})
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		r, err := DecodeReply(b[4:])
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if lt, ok := v.(sspi.SecPkgContextLifespan); ok {
			got := r.Attr.(sspi.SecPkgContextLifespan)
			if !got.Start.Equal(lt.Start) || !got.Expiry.Equal(lt.Expiry) {
				t.Errorf("lifespan: %v", got)
			}
			continue
		}
		if id, ok := v.(sspi.Identity); ok {
			got := r.Attr.(sspi.Identity)
			if !got.LogonTime.Equal(id.LogonTime) {
				t.Errorf("logon time: %v", got.LogonTime)
			}
			got.LogonTime = id.LogonTime
			r.Attr = got
		}
		if !reflect.DeepEqual(r.Attr, v) {
			t.Errorf("%T: got %+v", v, r.Attr)
		}
	}
	if _, err := AppendReply(nil, &Reply{Op: OpQueryContextAttributes, Attr: struct{}{}}); err == nil {
		t.Error("an unknown attribute type encoded")
	}
	for _, e := range []error{
		sspi.SEC_E_LOGON_DENIED,
		&sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_INVALID_TOKEN, Detail: "bad"},
		&sspi.Error{Status: sspi.SEC_E_TIME_SKEW, Detail: "clock", Err: errors.New("cause")},
		errors.New("plain"),
	} {
		b, _ := AppendReply(nil, &Reply{Op: OpDeleteContext, Err: e})
		r, err := DecodeReply(b[4:])
		if err != nil {
			t.Fatal(err)
		}
		if sspi.StatusOf(r.Err) != sspi.StatusOf(e) && !(sspi.StatusOf(e) == sspi.SEC_E_INTERNAL_ERROR) {
			t.Errorf("%v: status %v", e, sspi.StatusOf(r.Err))
		}
		if se, ok := e.(*sspi.Error); ok {
			got := r.Err.(*sspi.Error)
			if got.Op != se.Op || !strings.HasPrefix(got.Detail, se.Detail) {
				t.Errorf("%v: got %v", e, got)
			}
		}
	}
}

// Frames appended after others (the Writer's queue) carry their own
// length, and a reader splits them back.
func TestAppendAfterOtherFrames(t *testing.T) {
	b, _ := AppendRequest(nil, &Request{Op: OpQueryPackageInfo, ID: 1, Name: "NTLM"})
	b, _ = AppendRequest(b, &Request{Op: OpDeleteContext, ID: 2, Ctx: sspi.CtxtHandle{Lower: 3, Upper: 4}})
	b = AppendHello(b, Hello{Version: Version})
	r := bytes.NewReader(b)
	for i, want := range []Op{OpQueryPackageInfo, OpDeleteContext} {
		p, err := ReadFrame(r, DefaultMaxFrame, nil)
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodeRequest(p)
		if err != nil || q.Op != want || q.ID != uint64(i+1) {
			t.Fatalf("frame %d: %+v %v", i, q, err)
		}
	}
	p, err := ReadFrame(r, DefaultMaxFrame, nil)
	if _, herr := DecodeHello(p); err != nil || herr != nil {
		t.Fatalf("hello after requests: %v %v", err, herr)
	}
}

// The wire encodes every field of the types that cross it: a field added
// to one of them must be added to the codec (and this count).
func TestEncodedTypesComplete(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int
	}{
		{sspi.Identity{}, 15}, {sspi.Claim{}, 3}, {sspi.AuthIdentity{}, 6}, {sspi.PackageInfo{}, 8},
		{sspi.SecBuffer{}, 3}, {sspi.SecBufferDesc{}, 2}, {sspi.ContextResult{}, 11},
		{sspi.AcquireCredentialsRequest{}, 4}, {sspi.AcquireCredentialsResult{}, 2},
		{sspi.InitContextRequest{}, 6}, {sspi.AcceptContextRequest{}, 5},
		{sspi.SecPkgContextNegotiationInfo{}, 3}, {sspi.SecPkgContextLifespan{}, 2}, {sspi.SecPkgContextStreamSizes{}, 5},
		{sspi.SecPkgContextSizes{}, 4}, {sspi.SecPkgContextNativeNames{}, 2},
		{sspi.Error{}, 4}, // Err crosses as text in Detail
	} {
		if n := reflect.TypeOf(c.v).NumField(); n != c.want {
			t.Errorf("%T has %d fields; the codec knows %d", c.v, n, c.want)
		}
	}
}
