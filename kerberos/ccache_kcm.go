package kerberos

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// KCM: caches are kept by a daemon (sssd-kcm, the RHEL and Fedora default;
// Heimdal's kcm) that the client speaks the KCM protocol to over a Unix
// socket. The wire format, as MIT's client (src/include/kcm.h,
// src/lib/krb5/ccache/cc_kcm.c) and sssd-kcm (kcmsrv_cmd.c) speak it:
//
//	request: length (32-bit big-endian) of what follows; major version 2,
//	         minor version 0 (1 byte each); opcode (16-bit big-endian);
//	         the arguments
//	reply:   length (32-bit big-endian) of the body; a transport status
//	         (32-bit big-endian, nonzero when the daemon could not run the
//	         operation, and then no body follows); the body: the operation's
//	         status (a krb5 error code, 32-bit big-endian), then the results
//
// Names are zero-terminated strings; principals and credentials are in the
// version 4 FILE cache encoding (ccache_codec.go); UUIDs are 16 bytes and a
// UUID list fills the rest of the reply.

// defaultKCMSocket is MIT's and Heimdal's default (kcm.h).
const defaultKCMSocket = "/var/run/.heim_org.h5l.kcm-socket"

// KCM opcodes (kcm.h, enum kcm_opcode).
const (
	kcmOpGenNew           = 3
	kcmOpInitialize       = 4
	kcmOpDestroy          = 5
	kcmOpStore            = 6
	kcmOpGetPrincipal     = 8
	kcmOpGetCredUUIDList  = 9
	kcmOpGetCredByUUID    = 10
	kcmOpGetCacheUUIDList = 18
	kcmOpGetCacheByUUID   = 19
	kcmOpGetDefaultCache  = 20
	kcmOpSetDefaultCache  = 21
	kcmOpGetCredList      = 13001 // MIT extension
	kcmOpReplace          = 13002 // MIT extension
)

const (
	kcmUUIDLen = 16
	// kcmMaxReply bounds a reply, as MIT's client and sssd-kcm do.
	kcmMaxReply = 10 << 20
	// kcmMaxName bounds a cache name we send.
	kcmMaxName = 1024
)

// krb5 error codes a KCM daemon answers with (krb5_err.et; the table's
// base is -1765328384).
const (
	krb5CCBadName   int32 = -1765328245 // KRB5_CC_BADNAME
	krb5CCNotFound  int32 = -1765328243 // KRB5_CC_NOTFOUND
	krb5CCEnd       int32 = -1765328242 // KRB5_CC_END
	krb5CCIO        int32 = -1765328191 // KRB5_CC_IO
	krb5FCCPerm     int32 = -1765328190 // KRB5_FCC_PERM
	krb5FCCNoFile   int32 = -1765328189 // KRB5_FCC_NOFILE
	krb5FCCInternal int32 = -1765328188 // KRB5_FCC_INTERNAL
	krb5CCNoMem     int32 = -1765328186 // KRB5_CC_NOMEM
	krb5CCFormat    int32 = -1765328185 // KRB5_CC_FORMAT
	krb5CCNoSupp    int32 = -1765328137 // KRB5_CC_NOSUPP
)

// kcmError is a KCM daemon's refusal: the krb5 error code it answered.
type kcmError struct {
	Op   uint16
	Code int32
}

func (e *kcmError) Error() string {
	name := map[int32]string{
		krb5CCBadName: "KRB5_CC_BADNAME", krb5CCNotFound: "KRB5_CC_NOTFOUND", krb5CCEnd: "KRB5_CC_END",
		krb5CCIO: "KRB5_CC_IO", krb5FCCPerm: "KRB5_FCC_PERM", krb5FCCNoFile: "KRB5_FCC_NOFILE",
		krb5FCCInternal: "KRB5_FCC_INTERNAL", krb5CCNoMem: "KRB5_CC_NOMEM", krb5CCFormat: "KRB5_CC_FORMAT",
		krb5CCNoSupp: "KRB5_CC_NOSUPP",
	}[e.Code]
	if name == "" {
		name = fmt.Sprintf("error %d", e.Code)
	}
	return fmt.Sprintf("kerberos: KCM daemon refused operation %d: %s", e.Op, name)
}

// notFound reports the answers MIT takes for "no such cache".
func (e *kcmError) notFound() bool { return e.Code == krb5FCCNoFile || e.Code == krb5CCEnd }

// unsupported reports the answers after which MIT falls back to older
// operations (cc_kcm.c, unsupported_op_error).
func (e *kcmError) unsupported() bool {
	return e.Code == krb5FCCInternal || e.Code == krb5CCIO || e.Code == krb5CCNoSupp
}

var errKCMMalformed = errors.New("kerberos: malformed KCM reply")

// kcmConn is one connection to the daemon.
type kcmConn struct {
	c    net.Conn
	stop func() bool
}

// dialKCM connects to the daemon's socket; ctx ending closes the
// connection, which fails the call in progress.
func dialKCM(ctx context.Context, path string) (*kcmConn, error) {
	if path == "-" || path == "" {
		return nil, errors.New("kerberos: KCM: no KCM daemon (kcm_socket = -)")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("kerberos: KCM: cannot reach the KCM daemon at %s (is sssd-kcm running? kcm_socket in krb5.conf names the socket): %w", path, err)
	}
	// A daemon that stops answering fails the call when ctx ends, or at
	// the latest after kcmMaxWait.
	t := time.AfterFunc(kcmMaxWait, func() { c.Close() })
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &kcmConn{c: c, stop: func() bool { t.Stop(); return stop() }}, nil
}

// kcmMaxWait bounds a connection to the daemon (one cache operation).
const kcmMaxWait = 30 * time.Second

func (k *kcmConn) close() {
	k.stop()
	k.c.Close()
}

// kcmRequest is the marshalled request for op: version, opcode, arguments.
func kcmRequest(op uint16, args ...[]byte) []byte {
	n := 4
	for _, a := range args {
		n += len(a)
	}
	b := make([]byte, 4, 4+n)
	binary.BigEndian.PutUint32(b, uint32(n))
	b = append(b, 2, 0, byte(op>>8), byte(op))
	for _, a := range args {
		b = append(b, a...)
	}
	return b
}

// kcmName is a name argument: the name and a zero byte.
func kcmName(name string) ([]byte, error) {
	if name == "" || len(name) > kcmMaxName || strings.IndexByte(name, 0) >= 0 {
		return nil, errors.New("kerberos: KCM: bad cache name")
	}
	return append([]byte(name), 0), nil
}

// call sends a request and returns the results of the reply (after the
// operation status), or the daemon's refusal as a *kcmError. The request
// buffer is wiped after it is sent: a STORE carries a session key.
func (k *kcmConn) call(op uint16, args ...[]byte) ([]byte, error) {
	req := kcmRequest(op, args...)
	_, err := k.c.Write(req)
	clear(req)
	if err != nil {
		return nil, fmt.Errorf("kerberos: KCM: %w", err)
	}
	return readKCMReply(k.c, op)
}

// kcmTrace, when set (by tests), sees each reply as it came: the
// length, the transport status and the body.
var kcmTrace func(op uint16, frame []byte)

// readKCMReply reads one reply to op from r (kcmio_unix_socket_read).
func readKCMReply(r io.Reader, op uint16) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("kerberos: KCM: reading the reply: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if code := int32(binary.BigEndian.Uint32(hdr[4:])); code != 0 {
		if kcmTrace != nil {
			kcmTrace(op, hdr[:])
		}
		return nil, &kcmError{Op: op, Code: code}
	}
	if n > kcmMaxReply {
		return nil, errKCMMalformed
	}
	// Grow as the bytes come, so that a length the daemon does not send
	// costs no more memory than what it sends; an outgrown buffer is wiped
	// (a reply may carry session keys).
	body := make([]byte, 0, min(n, 64<<10))
	for uint32(len(body)) < n {
		if len(body) == cap(body) {
			nb := make([]byte, len(body), min(uint64(n), 2*uint64(cap(body))))
			copy(nb, body)
			clear(body)
			body = nb
		}
		m := min(int(n)-len(body), cap(body)-len(body))
		if _, err := io.ReadFull(r, body[len(body):len(body)+m]); err != nil {
			clear(body)
			return nil, fmt.Errorf("kerberos: KCM: reading the reply: %w", err)
		}
		body = body[:len(body)+m]
	}
	if kcmTrace != nil {
		kcmTrace(op, append(hdr[:], body...))
	}
	return parseKCMReply(op, body)
}

// parseKCMReply splits a reply body into the operation's status and its
// results.
func parseKCMReply(op uint16, body []byte) ([]byte, error) {
	if len(body) < 4 {
		return nil, errKCMMalformed
	}
	if code := int32(binary.BigEndian.Uint32(body)); code != 0 {
		return nil, &kcmError{Op: op, Code: code}
	}
	return body[4:], nil
}

// parseKCMName reads a reply's zero-terminated name (kcmreq_get_name).
func parseKCMName(b []byte) (string, error) {
	i := bytes.IndexByte(b, 0)
	if i <= 0 || i > kcmMaxName {
		return "", errKCMMalformed
	}
	return string(b[:i]), nil
}

// parseKCMUUIDs splits a UUID list (kcmreq_get_uuid_list).
func parseKCMUUIDs(b []byte) ([][]byte, error) {
	if len(b)%kcmUUIDLen != 0 {
		return nil, errKCMMalformed
	}
	out := make([][]byte, 0, len(b)/kcmUUIDLen)
	for ; len(b) > 0; b = b[kcmUUIDLen:] {
		out = append(out, b[:kcmUUIDLen:kcmUUIDLen])
	}
	return out, nil
}

// parseKCMCredList reads a GET_CRED_LIST reply: a count, then each
// credential with its length (kcmreq_get_cred_list). The credentials
// alias b.
func parseKCMCredList(b []byte) ([]ccCred, error) {
	r := &ccReader{b: b}
	n := r.u32()
	if r.err || uint64(n) > uint64(len(r.b)/4) {
		return nil, errKCMMalformed
	}
	out := make([]ccCred, 0, n)
	for i := uint32(0); i < n; i++ {
		d := r.data()
		if r.err {
			return nil, errKCMMalformed
		}
		cr, err := parseCCCred(d)
		if err != nil {
			return nil, errKCMMalformed
		}
		out = append(out, cr)
	}
	if len(r.b) != 0 {
		return nil, errKCMMalformed
	}
	return out, nil
}

// kcmCC is one cache of the daemon.
type kcmCC struct {
	socket string
	name   string
}

func (k *kcmCC) fullName() string { return "KCM:" + k.name }

// resolveKCM resolves KCM:residual: an empty residual is the daemon's
// default cache (GET_DEFAULT_CACHE), and the collection is the daemon's
// caches of the caller; a residual names one cache (and the collection,
// as MIT's cursor over it, holds it alone).
func (e ccEnv) resolveKCM(ctx context.Context, residual string) (ccStore, ccCollection, error) {
	col := &kcmCollection{socket: e.kcmSocket}
	if residual != "" {
		if _, err := kcmName(residual); err != nil {
			return nil, nil, err
		}
		s := &kcmCC{socket: e.kcmSocket, name: residual}
		col.single = s
		return s, col, nil
	}
	k, err := dialKCM(ctx, e.kcmSocket)
	if err != nil {
		return nil, nil, err
	}
	defer k.close()
	name, err := k.defaultCache()
	if err != nil {
		return nil, nil, err
	}
	return &kcmCC{socket: e.kcmSocket, name: name}, col, nil
}

func (k *kcmConn) defaultCache() (string, error) {
	r, err := k.call(kcmOpGetDefaultCache)
	if err != nil {
		return "", err
	}
	return parseKCMName(r)
}

// load reads the principal (GET_PRINCIPAL) and the credentials:
// GET_CRED_LIST, or where the daemon has no such operation,
// GET_CRED_UUID_LIST and GET_CRED_BY_UUID for each.
func (s *kcmCC) load(ctx context.Context) (*ccache, error) {
	k, err := dialKCM(ctx, s.socket)
	if err != nil {
		return nil, err
	}
	defer k.close()
	return k.load(s.name, false)
}

func (k *kcmConn) load(name string, byUUID bool) (*ccache, error) {
	nm, err := kcmName(name)
	if err != nil {
		return nil, err
	}
	r, err := k.call(kcmOpGetPrincipal, nm)
	var ke *kcmError
	if errors.As(err, &ke) && ke.notFound() || err == nil && len(r) == 0 {
		// Heimdal answers 0 and no principal for an empty cache.
		return nil, fmt.Errorf("%w: KCM:%s", errNoCCache, name)
	} else if err != nil {
		return nil, err
	}
	p, err := parseCCPrincipal(r)
	if err != nil {
		return nil, errKCMMalformed
	}
	c := &ccache{Principal: p}
	var creds []ccCred
	if !byUUID {
		r, err = k.call(kcmOpGetCredList, nm)
		if err == nil {
			if creds, err = parseKCMCredList(r); err != nil {
				clear(r)
				return nil, err
			}
		}
	}
	if byUUID || errors.As(err, &ke) && ke.unsupported() {
		r, err = k.call(kcmOpGetCredUUIDList, nm)
		if err != nil {
			return nil, err
		}
		ids, err := parseKCMUUIDs(r)
		if err != nil {
			return nil, err
		}
		if len(ids) > 4096 {
			return nil, errKCMMalformed
		}
		total := 0
		for _, id := range ids {
			r, err := k.call(kcmOpGetCredByUUID, nm, id)
			if total += len(r); total > maxCCacheSize {
				clear(r)
				c.Creds = creds
				c.wipe()
				return nil, errKCMMalformed
			}
			if errors.As(err, &ke) && ke.notFound() {
				continue // removed meanwhile
			} else if err != nil {
				c.Creds = creds
				c.wipe()
				return nil, err
			}
			cr, err := parseCCCred(r)
			if err != nil {
				clear(r)
				c.Creds = creds
				c.wipe()
				return nil, errKCMMalformed
			}
			creds = append(creds, cr)
		}
	} else if err != nil {
		return nil, err
	}
	for _, cr := range creds {
		if cr.isConfig() {
			clear(cr.Key)
			continue
		}
		c.Creds = append(c.Creds, cr)
	}
	return c, nil
}

// store replaces the cache: REPLACE (the MIT extension, atomic), or where
// the daemon has none (sssd-kcm), INITIALIZE and a STORE of each
// credential.
func (s *kcmCC) store(ctx context.Context, c *ccache) error {
	k, err := dialKCM(ctx, s.socket)
	if err != nil {
		return err
	}
	defer k.close()
	return k.store(s.name, c, false)
}

func (k *kcmConn) store(name string, c *ccache, noReplace bool) error {
	nm, err := kcmName(name)
	if err != nil {
		return err
	}
	princ := appendCCPrincipal(nil, c.Principal)
	if !noReplace {
		// (name, time offset, principal, count, count * (length, cred))
		b := binary.BigEndian.AppendUint32(nil, 0)
		b = append(b, princ...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(c.Creds)))
		for i := range c.Creds {
			cr := appendCCCred(nil, &c.Creds[i])
			b = appendCCData(b, cr)
			clear(cr)
		}
		_, err := k.call(kcmOpReplace, nm, b)
		clear(b)
		var ke *kcmError
		if err == nil || !errors.As(err, &ke) || !ke.unsupported() {
			return err
		}
	}
	if _, err := k.call(kcmOpInitialize, nm, princ); err != nil {
		return err
	}
	for i := range c.Creds {
		cr := appendCCCred(nil, &c.Creds[i])
		_, err := k.call(kcmOpStore, nm, cr)
		clear(cr)
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *kcmCC) destroy(ctx context.Context) error {
	k, err := dialKCM(ctx, s.socket)
	if err != nil {
		return err
	}
	defer k.close()
	nm, err := kcmName(s.name)
	if err != nil {
		return err
	}
	_, err = k.call(kcmOpDestroy, nm)
	var ke *kcmError
	if errors.As(err, &ke) && ke.notFound() {
		return fmt.Errorf("%w: %s", errNoCCache, s.fullName())
	}
	return err
}

// kcmCollection is the daemon's caches of the caller (the daemon tells
// callers apart by their Unix credentials).
type kcmCollection struct {
	socket string
	single *kcmCC // for a KCM:name default, that cache alone
}

// caches lists the default cache, then the others: GET_CACHE_UUID_LIST,
// and GET_CACHE_BY_UUID for each name (kcm_ptcursor_next).
func (col *kcmCollection) caches(ctx context.Context) ([]ccStore, error) {
	if col.single != nil {
		return []ccStore{col.single}, nil
	}
	k, err := dialKCM(ctx, col.socket)
	if err != nil {
		return nil, err
	}
	defer k.close()
	return k.caches(col.socket)
}

func (k *kcmConn) caches(socket string) ([]ccStore, error) {
	r, err := k.call(kcmOpGetCacheUUIDList)
	var ke *kcmError
	if errors.As(err, &ke) && ke.notFound() {
		return nil, nil // no caches
	} else if err != nil {
		return nil, err
	}
	ids, err := parseKCMUUIDs(r)
	if err != nil {
		return nil, err
	}
	if len(ids) > 4096 {
		return nil, errKCMMalformed
	}
	primary, err := k.defaultCache()
	if err != nil {
		return nil, err
	}
	out := []ccStore{&kcmCC{socket: socket, name: primary}}
	for _, id := range ids {
		r, err := k.call(kcmOpGetCacheByUUID, id)
		if errors.As(err, &ke) && ke.notFound() {
			continue // destroyed meanwhile
		} else if err != nil {
			return nil, err
		}
		name, err := parseKCMName(r)
		if err != nil {
			return nil, err
		}
		if name != primary {
			out = append(out, &kcmCC{socket: socket, name: name})
		}
	}
	return out, nil
}

// newUnique asks the daemon for a new cache name (GEN_NEW).
func (col *kcmCollection) newUnique(ctx context.Context) (ccStore, error) {
	k, err := dialKCM(ctx, col.socket)
	if err != nil {
		return nil, err
	}
	defer k.close()
	r, err := k.call(kcmOpGenNew)
	if err != nil {
		return nil, err
	}
	name, err := parseKCMName(r)
	if err != nil {
		return nil, err
	}
	return &kcmCC{socket: col.socket, name: name}, nil
}

// switchTo makes the cache the default (SET_DEFAULT_CACHE).
func (col *kcmCollection) switchTo(ctx context.Context, s ccStore) error {
	kc, ok := s.(*kcmCC)
	if !ok {
		return errors.New("kerberos: the cache is not a KCM cache")
	}
	k, err := dialKCM(ctx, col.socket)
	if err != nil {
		return err
	}
	defer k.close()
	nm, err := kcmName(kc.name)
	if err != nil {
		return err
	}
	_, err = k.call(kcmOpSetDefaultCache, nm)
	return err
}
