package netlogon

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/internal/ntlmssp"
)

// MachineAccount is a machine account's name and secret, as
// LoadMachineAccount reads them.
type MachineAccount struct {
	Account   string // "WS1$"
	Domain    string // the NetBIOS domain, when the file names it
	DNSDomain string // the DNS domain (a keytab's realm, lower case)
	NTHash    [16]byte
}

// maxSecretFile bounds a machine account file or keytab.
const maxSecretFile = 1 << 20

// rc4HMAC is the Kerberos enctype arcfour-hmac (RFC 4757): its key is the
// NT hash of the password.
const rc4HMAC = 23

// LoadMachineAccount reads a machine account's secret from path, which
// only its owner may read or write (mode 0600 or stricter; the owner this
// process's user or root), in one of two forms:
//
//   - a keytab: the arcfour-hmac key (the NT hash) of account@REALM, the
//     highest key version; with account empty, of the first principal
//     whose name ends in "$". DNSDomain is the realm.
//   - a text file of "key = value" lines ('#' starts a comment): account
//     (NAME$), domain (NetBIOS), dns_domain, and password or nt_hash
//     (32 hex digits). account, when given, must match.
//
// The password is hashed at once and not kept.
func LoadMachineAccount(path, account string) (*MachineAccount, error) {
	data, err := readSecret(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	if len(data) >= 2 && data[0] == 0x05 && (data[1] == 0x01 || data[1] == 0x02) {
		return fromKeytab(path, data, account)
	}
	m, err := parseMachineFile(data)
	if err != nil {
		return nil, fmt.Errorf("netlogon: machine account file %s: %w", path, err)
	}
	if account != "" && !strings.EqualFold(account, m.Account) {
		return nil, fmt.Errorf("netlogon: machine account file %s is for %s, not %s", path, m.Account, account)
	}
	return m, nil
}

func parseMachineFile(data []byte) (*MachineAccount, error) {
	m := &MachineAccount{}
	var password, hash string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: not key = value", n)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "account":
			m.Account = v
		case "domain":
			m.Domain = v
		case "dns_domain":
			m.DNSDomain = strings.ToLower(v)
		case "password":
			password = v
		case "nt_hash":
			hash = v
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (account, domain, dns_domain, password, nt_hash)", n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	switch {
	case m.Account == "" || !strings.HasSuffix(m.Account, "$"):
		return nil, errors.New("no account = NAME$ line")
	case password != "" && hash != "":
		return nil, errors.New("both password and nt_hash: give one")
	case password != "":
		m.NTHash = ntlmssp.NTOWFv1(password)
	case hash != "":
		b, err := hex.DecodeString(hash)
		if err != nil || len(b) != 16 {
			return nil, errors.New("nt_hash is not 32 hex digits")
		}
		copy(m.NTHash[:], b)
	default:
		return nil, errors.New("no password or nt_hash line")
	}
	return m, nil
}

func fromKeytab(path string, data []byte, account string) (*MachineAccount, error) {
	var kt keytab.Keytab
	if err := kt.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("netlogon: keytab %s: %w", path, err)
	}
	best := -1
	for i, e := range kt.Entries {
		if len(e.Principal.Components) != 1 || e.Key.KeyType != rc4HMAC || len(e.Key.KeyValue) != 16 {
			continue
		}
		name := e.Principal.Components[0]
		if account != "" && !strings.EqualFold(name, account) || account == "" && !strings.HasSuffix(name, "$") {
			continue
		}
		if best >= 0 && !strings.EqualFold(kt.Entries[best].Principal.Components[0], name) {
			continue // the first matching principal only
		}
		if best < 0 || e.KVNO > kt.Entries[best].KVNO {
			best = i
		}
	}
	if best < 0 {
		who := account
		if who == "" {
			who = "a NAME$ principal"
		}
		return nil, fmt.Errorf("netlogon: keytab %s has no arcfour-hmac (RC4, enctype 23) key for %s: "+
			"export it with the RC4 enctype (msDS-SupportedEncryptionTypes must include RC4)", path, who)
	}
	e := kt.Entries[best]
	m := &MachineAccount{Account: e.Principal.Components[0], DNSDomain: strings.ToLower(e.Principal.Realm)}
	copy(m.NTHash[:], e.Key.KeyValue)
	for i := range kt.Entries {
		clear(kt.Entries[i].Key.KeyValue)
	}
	return m, nil
}

// readSecret reads a secret file after checking, on the open descriptor,
// that it is a regular file only its owner can read or write.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netlogon: machine account secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("netlogon: machine account secret: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("netlogon: machine account secret %s is not a regular file", path)
	}
	if err := checkSecretPerm(path, st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("netlogon: machine account secret %s: %w", path, err)
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("netlogon: machine account secret %s is over %d bytes", path, maxSecretFile)
	}
	return data, nil
}

// Config returns the Config of a NETLOGON client for the machine account,
// and clears the account's copy of the NT hash. dc is the domain
// controller (HOST[:PORT]), or "" or "auto" to find one by DNS; domain and
// dnsDomain, when not empty, override the account's NetBIOS and DNS
// domains. Without a NetBIOS domain the DNS domain's first label, in upper
// case, stands for it (as for most domains). The caller sets the limits
// (MaxConcurrent, Timeout) and checks that Domain, and DNSDomain when DC
// is empty, are set.
func (m *MachineAccount) Config(dc, domain, dnsDomain string) Config {
	cfg := Config{DC: dc, Domain: m.Domain, DNSDomain: m.DNSDomain, Account: m.Account, NTHash: m.NTHash}
	clear(m.NTHash[:])
	if strings.EqualFold(dc, "auto") {
		cfg.DC = ""
	}
	if dnsDomain != "" {
		cfg.DNSDomain = strings.ToLower(dnsDomain)
	}
	if domain != "" {
		cfg.Domain = domain
	}
	if cfg.Domain == "" {
		first, _, _ := strings.Cut(cfg.DNSDomain, ".")
		cfg.Domain = strings.ToUpper(first)
	}
	return cfg
}
