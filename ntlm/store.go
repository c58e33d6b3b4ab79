package ntlm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
)

// maxAccountFile bounds an account or credential file.
const maxAccountFile = 64 << 20

// fileError is a problem with an account or credential file that the
// administrator must fix: missing, unreadable, malformed, or writable by
// others. Its message names the file and says what to do, and holds no
// secret (no file content beyond a line number), so it may go into a
// status detail.
type fileError struct {
	msg string
	err error // the cause, when there is one (an *fs.PathError)
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.err }

// fileDetail is ": " and the message of a fileError in err, for status
// details: the administrator needs to know what to fix. Other store errors
// are not passed on.
func fileDetail(err error) string {
	var fe *fileError
	if errors.As(err, &fe) {
		return ": " + fe.msg
	}
	return ""
}

// describeFileError turns the error of opening or reading an account or
// credential file (kind names which) into a fileError that says what to
// do. Errors that are already fileErrors pass through.
func describeFileError(kind, path string, err error) error {
	var fe *fileError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.Is(err, fs.ErrNotExist):
		msg := fmt.Sprintf("ntlm: %s %s does not exist: fix the path", kind, path)
		if kind == hashFileKind {
			msg += fmt.Sprintf(", or create it with `gosspi accounts -file %s add DOMAIN\\user`", path)
		}
		return &fileError{msg, err}
	case errors.Is(err, fs.ErrPermission):
		return &fileError{fmt.Sprintf("ntlm: %s %s: permission denied: make it readable by the user this process runs as (chown that user, chmod 600)", kind, path), err}
	}
	return &fileError{fmt.Sprintf("ntlm: %s %s: %v", kind, path, err), err}
}

// readSecureFile reads a file after checking, on the open descriptor, that
// it is a regular file and that only its owner (this process's user or
// root) can write to it. Its errors are fileErrors naming the file.
func readSecureFile(kind, path string) ([]byte, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, describeFileError(kind, path, err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, describeFileError(kind, path, err)
	}
	if err := checkRegular(kind, path, st); err != nil {
		return nil, err
	}
	if err := checkFileSecurity(path, st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxAccountFile+1))
	if err != nil {
		return nil, describeFileError(kind, path, err)
	}
	if len(data) > maxAccountFile {
		return nil, &fileError{msg: fmt.Sprintf("ntlm: %s %s: over %d bytes", kind, path, maxAccountFile)}
	}
	return data, nil
}

// checkRegular refuses a directory where a file is expected.
func checkRegular(kind, path string, st fs.FileInfo) error {
	if st.IsDir() {
		return &fileError{msg: fmt.Sprintf("ntlm: %s %s is a directory: give the path of the file", kind, path)}
	}
	return nil
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
	m.AddHash(domain, user, ntlmssp.NTOWFv1(password))
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
//
// A server should get its HashFile from LoadHashFile, which fails at once
// on a file that is missing or malformed. Once the file has been read, a
// lookup after it disappears or goes bad fails (the server logs the error
// and refuses the logon) until the file is back: it is never taken for an
// empty store.
type HashFile struct {
	path string

	mu    sync.Mutex
	mod   time.Time
	size  int64
	cache *MemoryStore
	seen  bool // the file has been read: missing now is an error
}

// hashFileKind names an account file in errors.
const hashFileKind = "account file"

// LoadHashFile returns a store for the account file at path, reading the
// file now: a file that is missing, unreadable, not an account file,
// malformed or writable by others is an error that names the file and
// says what to do, so that a server fails at start instead of refusing
// every logon as a wrong password. The store rereads the file when it
// changes; see HashFile.
func LoadHashFile(path string) (*HashFile, error) {
	f := &HashFile{path: path}
	if err := f.Check(); err != nil {
		return nil, err
	}
	return f, nil
}

// OpenHashFile returns a store for the account file at path without
// reading it: the file is read on first use, and until it has been read
// once a missing file is an empty store (so that `gosspi accounts add`
// can create it). Servers should use LoadHashFile, or call Check at start;
// gosspi.NewHost calls Check on a HashFile in ntlm.Config.Accounts.
func OpenHashFile(path string) *HashFile { return &HashFile{path: path} }

// Path returns the file name.
func (f *HashFile) Path() string { return f.path }

// Check reads the file now and returns what a lookup would fail with: a
// file that is missing (for any HashFile, even before its first use),
// unreadable, a directory, not an account file, malformed, or writable by
// others. The error names the file and says what to do.
func (f *HashFile) Check() error {
	_, err := f.loadChecked(true)
	return err
}

func (f *HashFile) load() (*MemoryStore, error) { return f.loadChecked(false) }

// loadChecked returns the accounts, rereading the file when it changed.
// mustExist makes a missing file an error even before the first read.
func (f *HashFile) loadChecked(mustExist bool) (*MemoryStore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist && !f.seen {
		f.cache, f.mod, f.size = NewMemoryStore(), time.Time{}, -1
		return f.cache, nil
	}
	if err != nil {
		f.cache = nil
		if errors.Is(err, fs.ErrNotExist) && f.seen {
			return nil, &fileError{fmt.Sprintf("ntlm: account file %s has disappeared: no one can log on until it is back "+
				"(restore it, or recreate it with `gosspi accounts -file %s add DOMAIN\\user`)", f.path, f.path), err}
		}
		return nil, describeFileError(hashFileKind, f.path, err)
	}
	defer fd.Close()
	// Checked on every use, on the descriptor that is read: a file that
	// becomes writable by others (chmod does not change its modification
	// time) stops being used at once.
	st, err := fd.Stat()
	if err != nil {
		return nil, describeFileError(hashFileKind, f.path, err)
	}
	if err := checkRegular(hashFileKind, f.path, st); err != nil {
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
		return nil, describeFileError(hashFileKind, f.path, err)
	}
	if len(data) > maxAccountFile {
		return nil, &fileError{msg: fmt.Sprintf("ntlm: account file %s: over %d bytes", f.path, maxAccountFile)}
	}
	m, err := ParseHashFile(data)
	if err != nil {
		f.cache = nil
		return nil, malformedError(f.path, err, bytes.HasPrefix(data, []byte(HashFileMagic)))
	}
	f.cache, f.mod, f.size, f.seen = m, st.ModTime(), st.Size(), true
	return m, nil
}

// malformedError is the fileError of an account file that does not parse.
// magic says whether it starts like one: if not, it may be gss-ntlmssp's
// NTLM_USER_FILE format, which LoadAccounts reads.
func malformedError(path string, err error, magic bool) error {
	msg := strings.TrimPrefix(err.Error(), "ntlm: ")
	if !magic {
		return &fileError{fmt.Sprintf("ntlm: %s is not a gosspi account file (its first line must be %s): "+
			"make one with `gosspi accounts -file %s add DOMAIN\\user`, or read a DOMAIN:USER:PASSWORD file with LoadAccounts", path, HashFileMagic, path), err}
	}
	return &fileError{fmt.Sprintf("ntlm: account file %s: %s: fix that line, or rewrite the file with `gosspi accounts`", path, msg), err}
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
	if data, err := readSecureFile(hashFileKind, f.path); err == nil {
		if m, err = ParseHashFile(data); err != nil {
			return malformedError(f.path, err, bytes.HasPrefix(data, []byte(HashFileMagic)))
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
// than this process's or root. Its errors (a missing, unreadable or
// malformed file too) name the file and say what to do.
func LoadAccounts(path string) (*MemoryStore, error) { return loadAccounts(hashFileKind, path) }

// loadAccounts is LoadAccounts, with kind naming the file in errors.
func loadAccounts(kind, path string) (*MemoryStore, error) {
	data, err := readSecureFile(kind, path)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(data, []byte(HashFileMagic)) {
		m, err := ParseHashFile(data)
		if err != nil {
			return nil, malformedError(path, err, true)
		}
		return m, nil
	}
	m, err := ParseUserFile(data)
	if err != nil {
		return nil, &fileError{fmt.Sprintf("ntlm: %s: %s: fix that line (DOMAIN:USER:PASSWORD, as gss-ntlmssp's NTLM_USER_FILE), "+
			"or make a gosspi account file with `gosspi accounts`", path, strings.TrimPrefix(err.Error(), "ntlm: ")), err}
	}
	return m, nil
}
