package lsad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// FileConfig is the daemon's configuration file (JSON): where it listens,
// the files only it reads, and the policy, one Service per kind of caller,
// as gssproxy's [service/...] sections.
type FileConfig struct {
	// Socket is the Unix socket to listen on ("/run/gosspi/lsad.sock"),
	// unless systemd passes one (LISTEN_FDS).
	Socket string `json:"socket"`
	// SocketMode is the socket file's permission bits, as an octal string
	// ("0666" by default: the policy, not the file mode, decides who may
	// use the daemon).
	SocketMode string `json:"socket_mode"`
	// Metrics is an optional TCP address for the Prometheus listener
	// (/metrics), such as "127.0.0.1:9464".
	Metrics string `json:"metrics"`
	// Krb5Conf is the krb5.conf of the Kerberos package (default
	// /etc/krb5.conf); a caller's KRB5_CONFIG is not used.
	Krb5Conf string `json:"krb5_conf"`
	// ReplayCacheSize bounds the Kerberos replay cache the daemon holds
	// for every acceptor (default kerberos.DefaultReplayCacheSize). When
	// it is full the acceptor refuses AP-REQs (fail closed) until entries
	// age out of the clock-skew window: size it for the handshakes a
	// window sees.
	ReplayCacheSize int `json:"replay_cache_size"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `json:"log_level"`
	// MaxInFlight bounds the calls one connection has running at once
	// (default 256); beyond it the daemon stops reading that connection.
	MaxInFlight int `json:"max_in_flight"`
	// MaxFrame caps one message (default 1 MiB).
	MaxFrame int `json:"max_frame"`
	// HandshakeTimeout is how long a half-built context may wait for its
	// next leg, as a Go duration ("2m" by default).
	HandshakeTimeout string `json:"handshake_timeout"`
	// AllowNTLMReflection lets the daemon's NTLM client log on to its own
	// NTLM server (MS08-068 reflection, refused by default): only for a
	// daemon whose callers authenticate to each other through it, as in
	// tests.
	AllowNTLMReflection bool `json:"allow_ntlm_reflection"`
	// NETLOGON, when set, has the NTLM acceptors verify domain users at a
	// domain controller with the machine account's secret (NETLOGON
	// pass-through), which the daemon alone reads.
	NETLOGON *NetlogonConfig `json:"netlogon"`
	// Services is the policy; a caller that matches none is refused.
	Services []Service `json:"services"`
}

// Service is one policy section: who it applies to and what they may use.
type Service struct {
	// Name identifies the section in logs and metrics.
	Name string `json:"name"`
	// UIDs and GIDs select the callers (SO_PEERCRED's uid, and gid or
	// supplementary groups); the first section that matches applies.
	UIDs []uint32 `json:"uids"`
	GIDs []uint32 `json:"gids"`
	// Packages are the packages the caller may use ("Negotiate",
	// "Kerberos", "NTLM"); empty means all.
	Packages []string `json:"packages"`
	// Inbound and Outbound allow acceptor and initiator credentials.
	Inbound  bool `json:"inbound"`
	Outbound bool `json:"outbound"`
	// Keytab is the Kerberos acceptor keytab of the caller; Principals,
	// when set, are the service principals it may accept as (patterns as
	// kerberos.Config.AcceptorPrincipals: "HTTP/*").
	Keytab     string   `json:"keytab"`
	Principals []string `json:"principals"`
	// ClientKeytab is a keytab the caller may initiate with (a service
	// that is a Kerberos client in its own name).
	ClientKeytab string `json:"client_keytab"`
	// NTLMAccounts is the NTLM account file of the acceptor (a gosspi
	// account file or an NTLM_USER_FILE).
	NTLMAccounts string `json:"ntlm_accounts"`
	// AllowS4U lets the caller acquire Kerberos credentials for another
	// user (S4U2self); AllowDelegation lets it request (ISC_REQ_DELEGATE)
	// or accept (ASC_REQ_DELEGATE) delegated credentials.
	AllowS4U        bool `json:"allow_s4u"`
	AllowDelegation bool `json:"allow_delegation"`
	// Quotas, per caller uid over all its connections: credentials held,
	// half-built contexts, contexts in all, and connections open. Defaults
	// 256, 1,024, 65,536 and 64.
	MaxConnections int `json:"max_connections"`
	MaxCredentials int `json:"max_credentials"`
	MaxHandshakes  int `json:"max_handshakes"`
	MaxContexts    int `json:"max_contexts"`
}

// LoadConfig reads and checks a configuration file. Unknown keys are
// errors.
func LoadConfig(path string) (*FileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lsad: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig parses and checks a configuration.
func ParseConfig(data []byte) (*FileConfig, error) {
	var c FileConfig
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("lsad: config: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *FileConfig) check() error {
	if len(c.Services) == 0 {
		return fmt.Errorf("lsad: config: no services: every caller would be refused")
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Name == "" {
			return fmt.Errorf("lsad: config: service %d has no name", i+1)
		}
		if len(s.UIDs) == 0 && len(s.GIDs) == 0 {
			return fmt.Errorf("lsad: config: service %q names no uids or gids", s.Name)
		}
		if !s.Inbound && !s.Outbound {
			return fmt.Errorf("lsad: config: service %q allows neither inbound nor outbound", s.Name)
		}
		if s.MaxConnections <= 0 {
			s.MaxConnections = 64
		}
		if s.MaxCredentials <= 0 {
			s.MaxCredentials = 256
		}
		if s.MaxHandshakes <= 0 {
			s.MaxHandshakes = 1024
		}
		if s.MaxContexts <= 0 {
			s.MaxContexts = 65536
		}
	}
	return nil
}

// match returns the first section for the caller, or nil.
func (c *FileConfig) match(uid, gid uint32, groups []uint32) *Service {
	for i := range c.Services {
		s := &c.Services[i]
		if slices.Contains(s.UIDs, uid) || slices.Contains(s.GIDs, gid) {
			return s
		}
		for _, g := range groups {
			if slices.Contains(s.GIDs, g) {
				return s
			}
		}
	}
	return nil
}

// allowsPackage reports whether the section allows the package.
func (s *Service) allowsPackage(name string) bool {
	if len(s.Packages) == 0 {
		return true
	}
	for _, p := range s.Packages {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}
