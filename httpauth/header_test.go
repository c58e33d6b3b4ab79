package httpauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	cases := []struct {
		in     string
		scheme string
		token  []byte
		bad    bool
	}{
		{in: "Negotiate YWJj", scheme: "Negotiate", token: []byte("abc")},
		{in: "  NTLM   YWI=  ", scheme: "NTLM", token: []byte("ab")},
		{in: "NTLM YWI", scheme: "NTLM", token: []byte("ab")}, // padding left out
		{in: "Negotiate", scheme: "Negotiate"},
		{in: "Basic dXNlcjpwdw==", scheme: "Basic", token: []byte("user:pw")},
		{in: "", bad: true},
		{in: "Nego\x00tiate YWJj", bad: true},
		{in: "Negotiate YW*j", bad: true},
		{in: "Negotiate YWJjZ", bad: true},     // 5 characters: no whole byte
		{in: "Negotiate YWI===", bad: true},    // too much padding
		{in: "Negotiate YWJj YWJj", bad: true}, // space inside
		{in: "Negotiate ====", bad: true},      // empty token
		{in: "Negotiate Y=WJj", bad: true},     // padding inside
		{in: `Negotiate realm="x"`, bad: true}, // params are not a token68
		{in: "Negotiate YWJj\r\nX: y", bad: true},
	}
	for _, c := range cases {
		scheme, tok, err := ParseAuthorization(c.in)
		if c.bad {
			if err == nil || !errors.Is(err, ErrMalformed) {
				t.Errorf("%q: err %v, want ErrMalformed", c.in, err)
			}
			continue
		}
		if err != nil || scheme != c.scheme || !bytes.Equal(tok, c.token) {
			t.Errorf("%q: %q %q %v", c.in, scheme, tok, err)
		}
	}
}

func TestParseChallenges(t *testing.T) {
	got, err := ParseChallenges([]string{
		`Negotiate, NTLM`,
		`Basic realm="a, \"b\"", charset="UTF-8", Negotiate YWJj`,
		`Kerberos`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Challenge{
		{Scheme: "Negotiate"},
		{Scheme: "NTLM"},
		{Scheme: "Basic", Params: map[string]string{"realm": `a, "b"`, "charset": "UTF-8"}},
		{Scheme: "Negotiate", Token: []byte("abc")},
		{Scheme: "Kerberos"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := ParseChallenges([]string{"Negotiate Y*Jj"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad token68: %v", err)
	}
}

// FuzzParseAuthorization checks that any header value parses without
// panicking and that what parses formats back to an equal value. The seed
// corpus holds the headers curl sent (NTLM and Negotiate with an MIT
// ticket), recorded with -record.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("Negotiate YWJj")
	f.Add("NTLM")
	f.Fuzz(func(t *testing.T, v string) {
		scheme, tok, err := ParseAuthorization(v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		s2, tok2, err := ParseAuthorization(FormatAuthorization(scheme, tok))
		if err != nil || s2 != scheme || !bytes.Equal(tok, tok2) {
			t.Fatalf("round trip of %q: %q %q %v", v, s2, tok2, err)
		}
	})
}

// FuzzParseChallenges checks WWW-Authenticate parsing, seeded with the
// challenges our middleware sent to curl.
func FuzzParseChallenges(f *testing.F) {
	f.Add(`Basic realm="x", Negotiate YWJj`)
	f.Fuzz(func(t *testing.T, v string) {
		cs, err := ParseChallenges([]string{v})
		if err != nil {
			return
		}
		for _, c := range cs {
			if !isToken(c.Scheme) {
				t.Fatalf("scheme %q is not a token", c.Scheme)
			}
		}
	})
}

// FuzzMiddleware sends any Authorization header through the whole stack
// (header parsing, Negotiate, Kerberos and NTLM acceptors) on one fake
// connection: the answer must be 400, 401 or 503, never a panic, and no
// handshake may leak once the connection closes.
func FuzzMiddleware(f *testing.F) {
	h := serverHost(f, BindingsWhenSupported)
	a, err := New(Config{Host: h, Schemes: []string{SchemeNegotiate, SchemeNTLM, SchemeKerberos},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	mw := a.Middleware(whoami)
	f.Add("Negotiate YIIBAAAA")
	f.Add("NTLM TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, v string) {
		c1, c2 := net.Pipe()
		defer c2.Close()
		ctx := a.ConnContext(context.Background(), c1)
		for i := 0; i < 2; i++ { // twice: a second leg on the same connection
			req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
			req.Header.Set("Authorization", v)
			w := httptest.NewRecorder()
			mw.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable:
			default:
				t.Fatalf("%q: status %d", v, w.Code)
			}
		}
		a.ConnState(c1, http.StateClosed)
		c1.Close()
		if n := a.Handshakes(); n != 0 {
			t.Fatalf("%d handshakes left after the connection closed", n)
		}
	})
}
