package ntlm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxAccountFile bounds an account or credential file.
const maxAccountFile = 64 << 20

// insecureFileError is a file that others could write to; its message
// says how to fix it.
type insecureFileError struct{ msg string }

func (e *insecureFileError) Error() string { return e.msg }

// insecureDetail is ": " and the message of an insecureFileError in err,
// for status details: the administrator needs to know what to fix. Other
// store errors are not passed on.
func insecureDetail(err error) string {
	var ie *insecureFileError
	if errors.As(err, &ie) {
		return ": " + ie.msg
	}
	return ""
}

// readSecureFile reads a file after checking, on the open descriptor, that
// only its owner (this process's user or root) can write to it.
func readSecureFile(path string) ([]byte, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkFileSecurity(path, st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxAccountFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAccountFile {
		return nil, fmt.Errorf("ntlm: %s: over %d bytes", path, maxAccountFile)
	}
	return data, nil
}

// ErrNoAccount is returned by an AccountStore that does not know the
// account. The server turns it into SEC_E_LOGON_DENIED, exactly like a
// wrong password.
var ErrNoAccount = errors.New("ntlm: no such account")

// Account is what an AccountStore knows about a user.
type Account struct {
	// Domain is the NetBIOS domain; empty matches any domain the client
	// sends, and the logon is then reported in the server's own domain
	// (Config.NetBIOSDomain).
	Domain string
	User   string   // account name, as reported after a logon
	NTHash [16]byte // NTOWFv1 of the password
	SID    string   // optional
}

// AccountStore is where the server looks up NT hashes. Domain back ends
// (a directory, a Netlogon proxy) implement it; the package ships a file
// store and a memory store. Implementations must be safe for concurrent
// use and must return ErrNoAccount (possibly wrapped) for unknown users.
// Names compare case-insensitively; the names of the returned Account are
// the canonical spelling the server reports (SECPKG_ATTR_NAMES, the gosspi
// identity).
type AccountStore interface {
	LookupAccount(ctx context.Context, domain, user string) (*Account, error)
}

// MemoryStore is an AccountStore held in memory.
type MemoryStore struct {
	mu       sync.RWMutex
	accounts map[string]*Account
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{accounts: make(map[string]*Account)} }

func accountKey(domain, user string) string {
	return strings.ToUpper(domain) + "\\" + strings.ToUpper(user)
}

// Add adds or replaces an account, keeping only the NT hash of password.
func (m *MemoryStore) Add(domain, user, password string) {
	m.AddHash(domain, user, NTOWFv1(password))
}

// AddHash adds or replaces an account by NT hash.
func (m *MemoryStore) AddHash(domain, user string, ntHash [16]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accounts[accountKey(domain, user)] = &Account{Domain: domain, User: user, NTHash: ntHash}
}

// Remove deletes an account; it reports whether it existed.
func (m *MemoryStore) Remove(domain, user string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := accountKey(domain, user)
	_, ok := m.accounts[k]
	delete(m.accounts, k)
	return ok
}

// List returns the accounts sorted by domain and user.
func (m *MemoryStore) List() []Account {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		return accountKey(out[i].Domain, out[i].User) < accountKey(out[j].Domain, out[j].User)
	})
	return out
}

// LookupAccount implements AccountStore: an exact domain match first, then
// an account stored without a domain, then (for a request without a
// domain) the only account of that name in any domain.
func (m *MemoryStore) LookupAccount(_ context.Context, domain, user string) (*Account, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if a, ok := m.accounts[accountKey(domain, user)]; ok {
		c := *a
		return &c, nil
	}
	if a, ok := m.accounts[accountKey("", user)]; ok {
		c := *a
		return &c, nil
	}
	if domain == "" {
		// A client that sends no domain (curl -u user:pass) matches the
		// user in any domain, when exactly one has that name.
		var found *Account
		u := strings.ToUpper(user)
		for k, a := range m.accounts {
			if strings.HasSuffix(k, "\\"+u) {
				if found != nil {
					return nil, ErrNoAccount
				}
				found = a
			}
		}
		if found != nil {
			c := *found
			return &c, nil
		}
	}
	return nil, ErrNoAccount
}

// HashFileMagic is the first line of a gosspi NTLM account file.
//
// The account file is the built-in store. It holds NT hashes, never
// passwords, one account a line:
//
//	#gosspi-ntlm-accounts/1
//	# comments and blank lines are ignored
//	DOMAIN:user:<32 hex digits of NTOWFv1(password)>
//	:user:<hash>              (an empty domain matches any domain)
//
// Domain and user may not contain ':' or newlines. `gosspi accounts
// add|list|remove` manages it; the file is written with mode 0600.
const HashFileMagic = "#gosspi-ntlm-accounts/1"

// HashFile is an AccountStore backed by an account file (see
// HashFileMagic). It rereads the file when its modification time or size
// changes, so `gosspi accounts add` takes effect without a restart. Every
// lookup first checks that only the file's owner can write to it and that
// the owner is this process's user or root (as OpenSSH checks its keys):
// otherwise the lookup fails, and no one logs on, until the file is fixed
// (the error says how).
type HashFile struct {
	path string

	mu    sync.Mutex
	mod   time.Time
	size  int64
	cache *MemoryStore
}

// OpenHashFile returns a store for the account file at path. The file is
// read on first use; a missing file is an empty store.
func OpenHashFile(path string) *HashFile { return &HashFile{path: path} }

// Path returns the file name.
func (f *HashFile) Path() string { return f.path }

func (f *HashFile) load() (*MemoryStore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		f.cache, f.mod, f.size = NewMemoryStore(), time.Time{}, -1
		return f.cache, nil
	}
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	// Checked on every use, on the descriptor that is read: a file that
	// becomes writable by others (chmod does not change its modification
	// time) stops being used at once.
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkFileSecurity(f.path, st); err != nil {
		return nil, err
	}
	if f.cache != nil && st.ModTime().Equal(f.mod) && st.Size() == f.size {
		return f.cache, nil
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxAccountFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAccountFile {
		return nil, fmt.Errorf("ntlm: %s: account file over %d bytes", f.path, maxAccountFile)
	}
	m, err := ParseHashFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	f.cache, f.mod, f.size = m, st.ModTime(), st.Size()
	return m, nil
}

// LookupAccount implements AccountStore.
func (f *HashFile) LookupAccount(ctx context.Context, domain, user string) (*Account, error) {
	m, err := f.load()
	if err != nil {
		return nil, err
	}
	return m.LookupAccount(ctx, domain, user)
}

// List returns the accounts in the file.
func (f *HashFile) List() ([]Account, error) {
	m, err := f.load()
	if err != nil {
		return nil, err
	}
	return m.List(), nil
}

// Add adds or replaces an account, storing only the NT hash of password.
func (f *HashFile) Add(domain, user, password string) error {
	return f.update(func(m *MemoryStore) error {
		if err := checkName(domain); err != nil {
			return err
		}
		if err := checkName(user); err != nil || user == "" {
			return fmt.Errorf("ntlm: bad user name %q", user)
		}
		m.Add(domain, user, password)
		return nil
	})
}

// AddHash adds or replaces an account by NT hash.
func (f *HashFile) AddHash(domain, user string, ntHash [16]byte) error {
	return f.update(func(m *MemoryStore) error {
		if err := checkName(domain); err != nil {
			return err
		}
		if err := checkName(user); err != nil || user == "" {
			return fmt.Errorf("ntlm: bad user name %q", user)
		}
		m.AddHash(domain, user, ntHash)
		return nil
	})
}

// Remove deletes an account.
func (f *HashFile) Remove(domain, user string) error {
	return f.update(func(m *MemoryStore) error {
		if !m.Remove(domain, user) {
			return ErrNoAccount
		}
		return nil
	})
}

func checkName(s string) error {
	if strings.ContainsAny(s, ":\r\n") {
		return fmt.Errorf("ntlm: name %q contains ':' or a newline", s)
	}
	return nil
}

func (f *HashFile) update(change func(*MemoryStore) error) error {
	m := NewMemoryStore()
	// Accounts someone else could have added are not carried over.
	if data, err := readSecureFile(f.path); err == nil {
		if m, err = ParseHashFile(data); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := change(m); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".ntlm-accounts-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(MarshalHashFile(m.List())); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	f.mu.Lock()
	f.cache = nil
	f.mu.Unlock()
	return nil
}

// ParseHashFile reads an account file.
func ParseHashFile(data []byte) (*MemoryStore, error) {
	m := NewMemoryStore()
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if line == 1 {
			if s != HashFileMagic {
				return nil, fmt.Errorf("ntlm: not an account file (first line must be %s)", HashFileMagic)
			}
			continue
		}
		if s == "" || s[0] == '#' {
			continue
		}
		parts := strings.Split(s, ":")
		if len(parts) != 3 || parts[1] == "" {
			return nil, fmt.Errorf("ntlm: account file line %d: want DOMAIN:user:hash", line)
		}
		h, err := hex.DecodeString(parts[2])
		if err != nil || len(h) != 16 {
			return nil, fmt.Errorf("ntlm: account file line %d: bad NT hash", line)
		}
		var k [16]byte
		copy(k[:], h)
		m.AddHash(parts[0], parts[1], k)
	}
	if line == 0 {
		return nil, fmt.Errorf("ntlm: empty account file")
	}
	return m, sc.Err()
}

// MarshalHashFile writes accounts in the account file format.
func MarshalHashFile(accounts []Account) []byte {
	var b bytes.Buffer
	b.WriteString(HashFileMagic + "\n")
	for _, a := range accounts {
		fmt.Fprintf(&b, "%s:%s:%x\n", a.Domain, a.User, a.NTHash)
	}
	return b.Bytes()
}

// ParseUserFile reads gss-ntlmssp's NTLM_USER_FILE format, one
// DOMAIN:USER:PASSWORD a line (the password may contain ':'). Passwords
// are hashed at once and not kept.
func ParseUserFile(data []byte) (*MemoryStore, error) {
	m := NewMemoryStore()
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		parts := strings.SplitN(s, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			return nil, fmt.Errorf("ntlm: user file line %d: want DOMAIN:USER:PASSWORD", line)
		}
		m.Add(parts[0], parts[1], parts[2])
	}
	return m, sc.Err()
}

// LoadAccounts reads either kind of file: an account file (starting with
// HashFileMagic) or an NTLM_USER_FILE. Like OpenHashFile's store, it
// refuses a file that is group- or world-writable or owned by a user other
// than this process's or root, with an error that says how to fix it.
func LoadAccounts(path string) (*MemoryStore, error) {
	data, err := readSecureFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(data, []byte(HashFileMagic)) {
		return ParseHashFile(data)
	}
	return ParseUserFile(data)
}
