package kerberos

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gosspi/gosspi/sspi"
)

// Enctype policy: krb5.conf's permitted_enctypes for the acceptor and
// default_tkt_enctypes / default_tgs_enctypes for the initiator, read as MIT
// krb5 reads them (krb5_conf(5); lib/krb5/krb/init_ctx.c).
//
// MIT's default list (|defetypes|) is aes256-cts-hmac-sha1-96
// aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192
// aes128-cts-hmac-sha256-128 des3-cbc-sha1 arcfour-hmac-md5
// camellia256-cts-cmac camellia128-cts-cmac. des3-cbc-sha1 and arcfour-hmac
// are "deprecated" there (not "weak", so allow_weak_crypto does not filter
// them), and since krb5 1.21 the KDC issues no session key of either unless
// allow_des3 / allow_rc4 is true, "in a future release" governing their use
// at all. gosspi takes that step now: its DEFAULT is MIT's list without the
// two deprecated enctypes, unless [libdefaults] allow_rc4 (allow_des3) is
// true. A permitted_enctypes that names arcfour-hmac (or "DEFAULT +rc4"),
// or Config.PermittedEnctypes, permits RC4 too: the switch for the legacy
// case (Active Directory accounts without AES keys).
//
// gokrb5's config package keeps these settings as bare lists already
// filled with its own defaults, so it cannot tell a setting from its
// absence, knows neither allow_rc4 nor MIT's DEFAULT, +/- and family
// syntax, and does not follow include directives; the few [libdefaults]
// relations the policy needs are read here instead.

// mitDefaultEnctypes is MIT's default enctype list, in its order.
var mitDefaultEnctypes = []int32{
	etypeAES256SHA1, etypeAES128SHA1, etypeAES256SHA384, etypeAES128SHA256,
	etypeDES3, etypeRC4HMAC, etypeCamellia128, etypeCamellia256,
}

const (
	etypeDES3        = 16
	etypeCamellia128 = 25
	etypeCamellia256 = 26
)

// enctypeNames are MIT's enctype names and aliases (lib/crypto/krb/etypes.c).
var enctypeNames = map[string]int32{
	"des-cbc-crc": 1, "des-cbc-md4": 2, "des-cbc-md5": 3, "des": 3, "des-cbc-raw": 4,
	"des3-cbc-raw": 6, "des-hmac-sha1": 8,
	"des3-cbc-sha1": 16, "des3-hmac-sha1": 16, "des3-cbc-sha1-kd": 16,
	"aes128-cts-hmac-sha1-96": 17, "aes128-cts": 17, "aes128-sha1": 17,
	"aes256-cts-hmac-sha1-96": 18, "aes256-cts": 18, "aes256-sha1": 18,
	"aes128-cts-hmac-sha256-128": 19, "aes128-sha2": 19,
	"aes256-cts-hmac-sha384-192": 20, "aes256-sha2": 20,
	"arcfour-hmac": 23, "rc4-hmac": 23, "arcfour-hmac-md5": 23,
	"arcfour-hmac-exp": 24, "rc4-hmac-exp": 24, "arcfour-hmac-md5-exp": 24,
	"camellia128-cts-cmac": 25, "camellia128-cts": 25,
	"camellia256-cts-cmac": 26, "camellia256-cts": 26,
}

// weakEnctypes are MIT's ETYPE_WEAK ones, dropped unless allow_weak_crypto.
var weakEnctypes = []int32{1, 2, 3, 4, 6, 8, 24}

// enctypeName is the MIT name of an enctype, for messages.
func enctypeName(e int32) string {
	names := map[int32]string{
		1: "des-cbc-crc", 2: "des-cbc-md4", 3: "des-cbc-md5", 16: "des3-cbc-sha1",
		17: "aes128-cts-hmac-sha1-96", 18: "aes256-cts-hmac-sha1-96",
		19: "aes128-cts-hmac-sha256-128", 20: "aes256-cts-hmac-sha384-192",
		23: "arcfour-hmac", 24: "arcfour-hmac-exp", 25: "camellia128-cts-cmac", 26: "camellia256-cts-cmac",
	}
	if n, ok := names[e]; ok {
		return fmt.Sprintf("%s (%d)", n, e)
	}
	return fmt.Sprintf("enctype %d", e)
}

// libdefaults are the krb5.conf relations of the enctype policy; a nil
// field was not set.
type libdefaults struct {
	permitted, tkt, tgs                   *string
	allowWeak, allowRC4, allowDES3        bool
	permittedSource, tktSource, tgsSource string // "krb5.conf PATH" or "Config.PermittedEnctypes"

	// Not the enctype policy: host-name canonicalization and the default
	// client keytab.
	dnsCanon     *string // dns_canonicalize_hostname: true, false, fallback
	rdns         *bool
	clientKeytab *string // default_client_keytab_name

	// Credential caches (ccache_store.go).
	defaultCCache *string // default_ccache_name
	kcmSocket     *string // kcm_socket
}

// enctypePolicy is an ordered list of enctypes with where it came from.
type enctypePolicy struct {
	list   []int32
	source string
}

func (p *enctypePolicy) allows(e int32) bool {
	if p == nil {
		return slices.Contains(defaultEnctypes(libdefaults{}), e)
	}
	return slices.Contains(p.list, e)
}

// refuse is the status for an enctype the policy does not permit: the
// client and server have no algorithm in common (MIT: KRB5_NOPERM_ETYPE).
func (p *enctypePolicy) refuse(what string, e int32) error {
	src := "the default policy"
	if p != nil && p.source != "" {
		src = p.source
	}
	return statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, fmt.Sprintf("%s %s not permitted by %s (permitted_enctypes; allow_rc4 = true or Config.PermittedEnctypes for the legacy case)", what, enctypeName(e), src))
}

// defaultEnctypes is gosspi's DEFAULT: MIT's list without the deprecated
// enctypes unless allowed.
func defaultEnctypes(ld libdefaults) []int32 {
	var out []int32
	for _, e := range mitDefaultEnctypes {
		if e == etypeRC4HMAC && !ld.allowRC4 || e == etypeDES3 && !ld.allowDES3 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// parseEnctypeList parses an enctype list as MIT's
// krb5int_parse_enctype_list does: words separated by blanks or commas,
// each an enctype name, a family (aes, rc4, des3, camellia) or DEFAULT,
// optionally prefixed with + (add, the default) or - (remove); weak
// enctypes are dropped unless allowWeak; unknown names are ignored. An
// empty result is an error (KRB5_CONFIG_ETYPE_NOSUPP).
func parseEnctypeList(s string, def []int32, allowWeak bool) ([]int32, error) {
	var list []int32
	mod := func(e int32, add bool) {
		if !allowWeak && slices.Contains(weakEnctypes, e) {
			return
		}
		i := slices.Index(list, e)
		switch {
		case add && i < 0:
			list = append(list, e)
		case !add && i >= 0:
			list = slices.Delete(list, i, i+1)
		}
	}
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\r\n,", r) }) {
		add := true
		if tok[0] == '+' || tok[0] == '-' {
			add = tok[0] == '+'
			tok = tok[1:]
		}
		var set []int32
		switch strings.ToLower(tok) {
		case "default":
			set = def
		case "des3":
			set = []int32{etypeDES3}
		case "aes":
			set = []int32{etypeAES256SHA1, etypeAES128SHA1, etypeAES256SHA384, etypeAES128SHA256}
		case "rc4":
			set = []int32{etypeRC4HMAC}
		case "camellia":
			set = []int32{etypeCamellia256, etypeCamellia128}
		default:
			if e, ok := enctypeNames[strings.ToLower(tok)]; ok {
				set = []int32{e}
			}
		}
		for _, e := range set {
			mod(e, add)
		}
	}
	if len(list) == 0 {
		return nil, errors.New("no permitted enctype in " + strconv.Quote(s))
	}
	return list, nil
}

// maxIncludeDepth bounds include chains in krb5.conf.
const maxIncludeDepth = 8

// includedirName is the file names MIT's includedir reads.
var includedirName = regexp.MustCompile(`^([A-Za-z0-9_-]+|.*\.conf)$`)

// readLibdefaults reads the enctype relations (and the few others of
// libdefaults) of [libdefaults] from a
// krb5.conf and the files it includes (include, includedir). The first
// value of a relation wins, as with MIT's profile_get_string. A missing
// file is no file: the defaults apply.
func readLibdefaults(path string) (libdefaults, error) {
	var ld libdefaults
	var allowWeak, allowRC4, allowDES3 *bool
	var read func(path string, depth int) error
	read = func(path string, depth int) error {
		if depth > maxIncludeDepth {
			return errors.New("krb5.conf includes nest too deep")
		}
		f, err := os.Open(path)
		if err != nil {
			if depth == 0 && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		section, nest := "", 0
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			if nest == 0 {
				if rest, ok := strings.CutPrefix(line, "includedir"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
					dir := strings.TrimSpace(rest)
					ents, err := os.ReadDir(dir)
					if err != nil {
						return err
					}
					for _, e := range ents { // ReadDir sorts by name
						if !e.IsDir() && includedirName.MatchString(e.Name()) {
							if err := read(filepath.Join(dir, e.Name()), depth+1); err != nil {
								return err
							}
						}
					}
					continue
				}
				if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
					if err := read(strings.TrimSpace(rest), depth+1); err != nil {
						return err
					}
					continue
				}
				if line[0] == '[' {
					section = strings.ToLower(strings.Trim(strings.TrimSuffix(line, "*"), "[] \t"))
					continue
				}
			}
			if strings.HasSuffix(line, "{") {
				nest++
				continue
			}
			if strings.HasPrefix(line, "}") {
				if nest > 0 {
					nest--
				}
				continue
			}
			if section != "libdefaults" || nest != 0 {
				continue // realm subsections do not set the policy
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
			src := "krb5.conf " + path
			setStr := func(p **string, s *string) {
				if *p == nil {
					*p, *s = &v, src
				}
			}
			setBool := func(p **bool) {
				if *p == nil {
					b := parseMITBool(v)
					*p = &b
				}
			}
			switch k {
			case "permitted_enctypes":
				setStr(&ld.permitted, &ld.permittedSource)
			case "default_tkt_enctypes":
				setStr(&ld.tkt, &ld.tktSource)
			case "default_tgs_enctypes":
				setStr(&ld.tgs, &ld.tgsSource)
			case "allow_weak_crypto":
				setBool(&allowWeak)
			case "allow_rc4":
				setBool(&allowRC4)
			case "allow_des3":
				setBool(&allowDES3)
			case "dns_canonicalize_hostname":
				if ld.dnsCanon == nil {
					ld.dnsCanon = &v
				}
			case "rdns":
				setBool(&ld.rdns)
			case "default_client_keytab_name":
				if ld.clientKeytab == nil {
					ld.clientKeytab = &v
				}
			case "default_ccache_name":
				if ld.defaultCCache == nil {
					ld.defaultCCache = &v
				}
			case "kcm_socket":
				if ld.kcmSocket == nil {
					ld.kcmSocket = &v
				}
			}
		}
		return sc.Err()
	}
	if err := read(path, 0); err != nil {
		return ld, err
	}
	ld.allowWeak = allowWeak != nil && *allowWeak
	ld.allowRC4 = allowRC4 != nil && *allowRC4
	ld.allowDES3 = allowDES3 != nil && *allowDES3
	return ld, nil
}

// parseMITBool is profile_parse_boolean: y, yes, true, t, 1, on are true.
func parseMITBool(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "true", "t", "1", "on":
		return true
	}
	return false
}

// krb5ConfPath is the krb5.conf the package reads: Config.Krb5Conf, else
// the first existing file of KRB5_CONFIG, else /etc/krb5.conf.
func (p *Package) krb5ConfPath() string {
	path := p.cfg.Krb5Conf
	if path == "" {
		if env := os.Getenv("KRB5_CONFIG"); env != "" {
			for _, f := range strings.Split(env, ":") {
				if _, err := os.Stat(f); err == nil {
					path = f
					break
				}
			}
		}
	}
	if path == "" {
		path = "/etc/krb5.conf"
	}
	return path
}

// enctypePolicies returns the acceptor's permitted enctypes and the
// initiator's AS and TGS request lists. Config.PermittedEnctypes wins over
// permitted_enctypes; default_tkt_enctypes and default_tgs_enctypes
// default to the permitted list (MIT 1.18 and later). A krb5.conf that
// cannot be read fails: the policy would be unknown.
func (p *Package) enctypePolicies() (permitted, tkt, tgs *enctypePolicy, err error) {
	ld, err := p.libdefaults()
	if err != nil {
		return nil, nil, nil, err
	}
	return p.enctypePoliciesOf(ld)
}

// libdefaults reads the [libdefaults] relations the package interprets
// itself from krb5.conf.
func (p *Package) libdefaults() (libdefaults, error) {
	path := p.krb5ConfPath()
	ld, err := readLibdefaults(path)
	if err != nil {
		return libdefaults{}, &sspi.Error{Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "cannot read the enctype policy of krb5.conf " + path, Err: err}
	}
	return ld, nil
}

// enctypePoliciesOf is enctypePolicies over libdefaults already read.
func (p *Package) enctypePoliciesOf(ld libdefaults) (permitted, tkt, tgs *enctypePolicy, err error) {
	if p.cfg.PermittedEnctypes != "" {
		s := p.cfg.PermittedEnctypes
		ld.permitted, ld.permittedSource = &s, "Config.PermittedEnctypes"
	}
	def := defaultEnctypes(ld)
	parse := func(s *string, src string, fallback *enctypePolicy) (*enctypePolicy, error) {
		if s == nil {
			return fallback, nil
		}
		l, err := parseEnctypeList(*s, def, ld.allowWeak)
		if err != nil {
			return nil, statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, src+": "+err.Error())
		}
		return &enctypePolicy{list: l, source: src}, nil
	}
	if permitted, err = parse(ld.permitted, ld.permittedSource, &enctypePolicy{list: def, source: "the default policy"}); err != nil {
		return nil, nil, nil, err
	}
	if tkt, err = parse(ld.tkt, ld.tktSource, permitted); err != nil {
		return nil, nil, nil, err
	}
	if tgs, err = parse(ld.tgs, ld.tgsSource, permitted); err != nil {
		return nil, nil, nil, err
	}
	return permitted, tkt, tgs, nil
}

// requestable filters a policy to the enctypes gokrb5 can run, for the
// initiator's AS-REQ and TGS-REQ etype lists.
func requestable(p *enctypePolicy) []int32 {
	var out []int32
	for _, e := range p.list {
		switch e {
		case etypeAES128SHA1, etypeAES256SHA1, etypeAES128SHA256, etypeAES256SHA384, etypeRC4HMAC, etypeDES3:
			out = append(out, e)
		}
	}
	return out
}
