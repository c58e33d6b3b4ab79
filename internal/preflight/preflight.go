// Package preflight checks the files a server is configured with before it
// starts: keytabs and TLS key pairs. gosspi.NewHost, httpauth.New and
// `gosspi serve` use it so that a wrong path, a file that is not what it
// should be, or a principal that is not in the keytab fails at start with a
// message that names the file, the principal and what to do, instead of
// every request failing later with SEC_E_SECPKG_NOT_FOUND.
//
// Messages never hold key material or file contents.
package preflight

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/gosspi/gosspi/internal/spn"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// DefaultKeytab is where MIT Kerberos, and package kerberos, look for the
// acceptor keytab when neither the configuration nor KRB5_KTNAME names one.
const DefaultKeytab = "/etc/krb5.keytab"

// maxKeytab bounds the keytab read: a real one is a few kilobytes.
const maxKeytab = 16 << 20

// Sources of a keytab path, for messages and logs.
const (
	SourceEnv     = "the environment, KRB5_KTNAME"
	SourceDefault = "the default"
)

// Keytab is a keytab file that loaded: its path and where the path came
// from, and its principals.
type Keytab struct {
	Path   string // without a FILE: or WRFILE: prefix
	Source string // "-keytab", "kerberos.Config.Keytab", SourceEnv, SourceDefault
	// Principals are "svc/host@REALM", each once, in file order.
	Principals []string
}

// KeytabPath resolves the acceptor keytab as package kerberos does: the
// configured path (configured, with its source), else KRB5_KTNAME, else
// DefaultKeytab. The FILE: and WRFILE: prefixes are removed.
func KeytabPath(configured, source string) (p, src string) {
	switch {
	case configured != "":
		p, src = configured, source
	case os.Getenv("KRB5_KTNAME") != "":
		p, src = os.Getenv("KRB5_KTNAME"), SourceEnv
	default:
		p, src = DefaultKeytab, SourceDefault
	}
	p = strings.TrimPrefix(p, "FILE:")
	p = strings.TrimPrefix(p, "WRFILE:")
	return p, src
}

// from is " (from SOURCE)", or "" for no source.
func from(source string) string {
	if source == "" {
		return ""
	}
	return " (from " + source + ")"
}

// LoadKeytab reads and parses the keytab at p (source says where the path
// came from). A file that is missing, unreadable, a directory, not a
// keytab or a keytab without keys is an error naming the file and saying
// what to do.
func LoadKeytab(p, source string) (*Keytab, error) {
	name := "keytab " + p + from(source)
	fd, err := os.Open(p)
	if err != nil {
		return nil, describe(name, err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, describe(name, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: give the path of the keytab file", name)
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxKeytab+1))
	if err != nil {
		return nil, describe(name, err)
	}
	defer clear(data)
	if len(data) > maxKeytab {
		return nil, fmt.Errorf("%s is over %d bytes: it is not a keytab", name, maxKeytab)
	}
	const what = "export the service's key with kadmin's ktadd, ktutil, or ktpass on Active Directory"
	if len(data) < 2 || data[0] != 5 || (data[1] != 1 && data[1] != 2) {
		return nil, fmt.Errorf("%s is not a keytab (a keytab starts with 0x05 0x01 or 0x05 0x02): give the service's keytab file (%s)", name, what)
	}
	kt, err := parseKeytab(data)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged (%s): export it again (%s)", name, err, what)
	}
	defer func() {
		for i := range kt.Entries {
			clear(kt.Entries[i].Key.KeyValue)
		}
	}()
	k := &Keytab{Path: p, Source: source}
	seen := map[string]bool{}
	for _, e := range kt.Entries {
		pr := strings.Join(e.Principal.Components, "/") + "@" + e.Principal.Realm
		if !seen[pr] {
			seen[pr] = true
			k.Principals = append(k.Principals, pr)
		}
	}
	if len(k.Principals) == 0 {
		return nil, fmt.Errorf("%s holds no keys: add the service's key (%s)", name, what)
	}
	return k, nil
}

// parseKeytab is gokrb5's parser behind a recover, with an error that does
// not quote the file (gokrb5's can print the bytes it read).
func parseKeytab(data []byte) (kt *keytab.Keytab, err error) {
	defer func() {
		if recover() != nil {
			kt, err = nil, errors.New("its entries do not parse")
		}
	}()
	kt = keytab.New()
	if kt.Unmarshal(bytes.Clone(data)) != nil {
		return nil, errors.New("its entries do not parse")
	}
	return kt, nil
}

// fileError is an error opening or reading a file, with a message that
// names it and says what to do; Unwrap gives the os error, so that
// errors.Is(err, fs.ErrNotExist) works.
type fileError struct {
	msg string
	err error
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.err }

// describe turns an open or read error into a message with what to do.
func describe(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &fileError{fmt.Sprintf("%s does not exist: fix the path", name), err}
	case errors.Is(err, fs.ErrPermission):
		return &fileError{fmt.Sprintf("%s: permission denied: make it readable by the user this process runs as (uid %d), for example with chown and chmod 600", name, os.Geteuid()), err}
	}
	var pe *fs.PathError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	return &fileError{name + ": " + msg, err}
}

// NormalizePrincipal turns a service principal as package kerberos accepts
// it ("HTTP/host", "HTTP/host@REALM", "HTTP@host") into "svc/host" or
// "svc/host@REALM".
func NormalizePrincipal(p string) string {
	p = strings.TrimSpace(p)
	if strings.Contains(p, "/") {
		return p
	}
	if i := strings.IndexByte(p, '@'); i > 0 && i < len(p)-1 {
		return p[:i] + "/" + p[i+1:]
	}
	return p
}

// Has reports whether the keytab holds principal ("svc/host", with
// "@REALM" optional), as package kerberos matches it: the name exactly,
// the realm without regard to case.
func (k *Keytab) Has(principal string) bool {
	want := NormalizePrincipal(principal)
	for _, full := range k.Principals {
		i := strings.LastIndexByte(full, '@')
		if spn.Matches(want, full[:i], full[i+1:]) {
			return true
		}
	}
	return false
}

// CheckPrincipal fails when principal (from source, such as "-principal")
// is set and not in the keytab.
func (k *Keytab) CheckPrincipal(principal, source string) error {
	if principal == "" || k.Has(principal) {
		return nil
	}
	return fmt.Errorf("keytab %s%s has no key for %s%s; it holds %s: add the key (kadmin: ktadd -k %s %s) or give one of those",
		k.Path, from(k.Source), principal, from(source), strings.Join(k.Principals, ", "), k.Path, NormalizePrincipal(principal))
}

// Matching returns the principals of the keytab that one of the patterns
// accepts, as kerberos.Config.AcceptorPrincipals matches them (path.Match
// globs, case-insensitive, against "svc/host", or "svc/host@REALM" for a
// pattern with '@'). No patterns accept every principal. A malformed
// pattern is an error.
func (k *Keytab) Matching(patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return k.Principals, nil
	}
	if err := spn.CheckPatterns(patterns); err != nil {
		return nil, err
	}
	var out []string
	for _, full := range k.Principals {
		i := strings.LastIndexByte(full, '@')
		if spn.Accepts(patterns, full[:i], full[i+1:]) {
			out = append(out, full)
		}
	}
	return out, nil
}

// CheckPatterns fails when patterns (from source, such as
// "-accept-principals") are malformed or accept no principal of the
// keytab.
func (k *Keytab) CheckPatterns(patterns []string, source string) error {
	m, err := k.Matching(patterns)
	if err != nil {
		return fmt.Errorf("%s%s", err, from(source))
	}
	if len(m) == 0 {
		return fmt.Errorf("no principal of keytab %s%s matches %s%s; it holds %s: add a key for a matching principal (kadmin: ktadd -k %s HTTP/<host>) or widen the patterns",
			k.Path, from(k.Source), strings.Join(patterns, ","), from(source), strings.Join(k.Principals, ", "), k.Path)
	}
	return nil
}

// TLSKeyPair loads a certificate and its key from PEM files (certFlag and
// keyFlag name where each path came from, such as "-tls-cert"), with
// errors that name the file at fault: missing, unreadable, not PEM, or a
// key that is not the certificate's.
func TLSKeyPair(certFile, certFlag, keyFile, keyFlag string) (tls.Certificate, error) {
	certPEM, err := readSmall("TLS certificate "+certFile+from(certFlag), certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readSmall("TLS key "+keyFile+from(keyFlag), keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer clear(keyPEM)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err == nil {
		return cert, nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not match"):
		return tls.Certificate{}, fmt.Errorf("TLS key %s%s is not the key of certificate %s%s: give the key the certificate was issued for", keyFile, from(keyFlag), certFile, from(certFlag))
	case strings.Contains(msg, "in certificate input"):
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s%s holds no PEM certificate (%s): give the certificate in PEM (-----BEGIN CERTIFICATE-----)", certFile, from(certFlag), msg)
	case strings.Contains(msg, "in key input"):
		return tls.Certificate{}, fmt.Errorf("TLS key %s%s holds no PEM private key: give the certificate's private key in PEM (-----BEGIN PRIVATE KEY-----)", keyFile, from(keyFlag))
	}
	return tls.Certificate{}, fmt.Errorf("TLS certificate %s%s and key %s%s: %v", certFile, from(certFlag), keyFile, from(keyFlag), err)
}

// readSmall reads a file of at most a megabyte; name describes it.
func readSmall(name, p string) ([]byte, error) {
	fd, err := os.Open(p)
	if err != nil {
		return nil, describe(name, err)
	}
	defer fd.Close()
	if st, err := fd.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: give the path of the file", name)
	}
	b, err := io.ReadAll(io.LimitReader(fd, 1<<20))
	if err != nil {
		return nil, describe(name, err)
	}
	return b, nil
}
