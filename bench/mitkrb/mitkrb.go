// Package mitkrb is a small cgo harness around MIT krb5's GSS-API
// (libgssapi_krb5), used only to benchmark gosspi's Kerberos package
// against MIT in the same run. It is a separate module so that the main
// module stays pure Go. It needs libkrb5-dev.
package mitkrb

/*
#cgo LDFLAGS: -lgssapi_krb5 -lkrb5
#include <stdlib.h>
#include <string.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

static gss_OID_desc krb5_mech = {9, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};

static OM_uint32 mk_init(const char *target, OM_uint32 flags, gss_ctx_id_t *ctx,
		const void *in, size_t inlen, void **out, size_t *outlen, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_buffer_desc nb = {strlen(target), (void *)target};
	gss_name_t name = GSS_C_NO_NAME;
	major = gss_import_name(minor, &nb, GSS_C_NT_HOSTBASED_SERVICE, &name);
	if (GSS_ERROR(major)) return major;
	gss_buffer_desc ib = {inlen, (void *)in};
	gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
	major = gss_init_sec_context(minor, GSS_C_NO_CREDENTIAL, ctx, name, &krb5_mech, flags, 0,
		GSS_C_NO_CHANNEL_BINDINGS, inlen ? &ib : GSS_C_NO_BUFFER, NULL, &ob, NULL, NULL);
	gss_release_name(&m2, &name);
	*out = NULL; *outlen = 0;
	if (ob.length) { *out = malloc(ob.length); memcpy(*out, ob.value, ob.length); *outlen = ob.length; }
	gss_release_buffer(&m2, &ob);
	return major;
}

static OM_uint32 mk_accept(gss_ctx_id_t *ctx, const void *in, size_t inlen, void **out, size_t *outlen, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_buffer_desc ib = {inlen, (void *)in};
	gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
	major = gss_accept_sec_context(minor, ctx, GSS_C_NO_CREDENTIAL, &ib, GSS_C_NO_CHANNEL_BINDINGS,
		NULL, NULL, &ob, NULL, NULL, NULL);
	*out = NULL; *outlen = 0;
	if (ob.length) { *out = malloc(ob.length); memcpy(*out, ob.value, ob.length); *outlen = ob.length; }
	gss_release_buffer(&m2, &ob);
	return major;
}

// accept_loop accepts the same token n times (replay cache off), deleting
// each context: the cost of gss_accept_sec_context without cgo overhead
// per call.
static OM_uint32 mk_accept_loop(const void *in, size_t inlen, int n, OM_uint32 *minor) {
	OM_uint32 major = 0, m2;
	gss_buffer_desc ib = {inlen, (void *)in};
	for (int i = 0; i < n; i++) {
		gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
		gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
		major = gss_accept_sec_context(minor, &ctx, GSS_C_NO_CREDENTIAL, &ib, GSS_C_NO_CHANNEL_BINDINGS,
			NULL, NULL, &ob, NULL, NULL, NULL);
		gss_release_buffer(&m2, &ob);
		gss_delete_sec_context(&m2, &ctx, GSS_C_NO_BUFFER);
		if (GSS_ERROR(major)) return major;
	}
	return major;
}

static OM_uint32 mk_wrap_loop(gss_ctx_id_t ctx, int conf, const void *in, size_t inlen, int n, OM_uint32 *minor) {
	OM_uint32 major = 0, m2;
	gss_buffer_desc ib = {inlen, (void *)in};
	for (int i = 0; i < n; i++) {
		gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
		major = gss_wrap(minor, ctx, conf, GSS_C_QOP_DEFAULT, &ib, NULL, &ob);
		gss_release_buffer(&m2, &ob);
		if (GSS_ERROR(major)) return major;
	}
	return major;
}

static OM_uint32 mk_unwrap_loop(gss_ctx_id_t ctx, const void *in, size_t inlen, int n, OM_uint32 *minor) {
	OM_uint32 major = 0, m2;
	gss_buffer_desc ib = {inlen, (void *)in};
	for (int i = 0; i < n; i++) {
		gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
		major = gss_unwrap(minor, ctx, &ib, &ob, NULL, NULL);
		gss_release_buffer(&m2, &ob);
		if (GSS_ERROR(major)) return major;
	}
	return major;
}

static OM_uint32 mk_wrap(gss_ctx_id_t ctx, int conf, const void *in, size_t inlen, void **out, size_t *outlen, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_buffer_desc ib = {inlen, (void *)in};
	gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
	major = gss_wrap(minor, ctx, conf, GSS_C_QOP_DEFAULT, &ib, NULL, &ob);
	*out = NULL; *outlen = 0;
	if (ob.length) { *out = malloc(ob.length); memcpy(*out, ob.value, ob.length); *outlen = ob.length; }
	gss_release_buffer(&m2, &ob);
	return major;
}

static OM_uint32 mk_unwrap(gss_ctx_id_t ctx, const void *in, size_t inlen, void **out, size_t *outlen, int *conf, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_buffer_desc ib = {inlen, (void *)in};
	gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
	major = gss_unwrap(minor, ctx, &ib, &ob, conf, NULL);
	*out = NULL; *outlen = 0;
	if (ob.length) { *out = malloc(ob.length); memcpy(*out, ob.value, ob.length); *outlen = ob.length; }
	gss_release_buffer(&m2, &ob);
	return major;
}

// acquire_loop acquires and releases an initiator credential from the
// default ccache n times, asking for its lifetime (which makes MIT read
// the cache's principal and scan it for the TGT).
static OM_uint32 mk_acquire_loop(int n, OM_uint32 *minor) {
	OM_uint32 major = 0, m2, lifetime;
	gss_OID_set_desc mechs = {1, &krb5_mech};
	for (int i = 0; i < n; i++) {
		gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
		major = gss_acquire_cred(minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
			&cred, NULL, &lifetime);
		if (GSS_ERROR(major)) return major;
		gss_release_cred(&m2, &cred);
	}
	return major;
}

static void mk_delete(gss_ctx_id_t *ctx) {
	OM_uint32 m;
	gss_delete_sec_context(&m, ctx, GSS_C_NO_BUFFER);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// GSS request flags.
const (
	FlagDeleg    = C.GSS_C_DELEG_FLAG
	FlagMutual   = C.GSS_C_MUTUAL_FLAG
	FlagReplay   = C.GSS_C_REPLAY_FLAG
	FlagSequence = C.GSS_C_SEQUENCE_FLAG
	FlagConf     = C.GSS_C_CONF_FLAG
	FlagInteg    = C.GSS_C_INTEG_FLAG
)

// Context is an MIT GSS-API security context.
type Context struct{ h C.gss_ctx_id_t }

// Error is a GSS major/minor status pair.
type Error struct{ Major, Minor uint32 }

func (e *Error) Error() string { return fmt.Sprintf("gss major 0x%08x minor %d", e.Major, e.Minor) }

func check(major, minor C.OM_uint32) error {
	if major&0xffff0000 != 0 { // GSS_ERROR: calling or routine error
		return &Error{uint32(major), uint32(minor)}
	}
	return nil
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func take(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil {
		return nil
	}
	b := C.GoBytes(p, C.int(n))
	C.free(p)
	return b
}

// Init runs gss_init_sec_context with the default credentials
// (KRB5CCNAME) for a host-based service name ("HTTP@host"). Call it again
// with the acceptor's token; done reports GSS_S_COMPLETE.
func (c *Context) Init(target string, flags uint32, in []byte) (out []byte, done bool, err error) {
	ct := C.CString(target)
	defer C.free(unsafe.Pointer(ct))
	var op unsafe.Pointer
	var ol C.size_t
	var minor C.OM_uint32
	major := C.mk_init(ct, C.OM_uint32(flags), &c.h, ptr(in), C.size_t(len(in)), &op, &ol, &minor)
	out = take(op, ol)
	return out, major == 0, check(major, minor)
}

// Accept runs gss_accept_sec_context with the default keytab
// (KRB5_KTNAME).
func (c *Context) Accept(in []byte) ([]byte, error) {
	var op unsafe.Pointer
	var ol C.size_t
	var minor C.OM_uint32
	major := C.mk_accept(&c.h, ptr(in), C.size_t(len(in)), &op, &ol, &minor)
	return take(op, ol), check(major, minor)
}

// AcceptLoop accepts token n times with fresh contexts.
func AcceptLoop(token []byte, n int) error {
	var minor C.OM_uint32
	return check(C.mk_accept_loop(ptr(token), C.size_t(len(token)), C.int(n), &minor), minor)
}

// AcquireLoop acquires (and releases) an initiator credential from the
// default ccache (KRB5CCNAME) n times.
func AcquireLoop(n int) error {
	var minor C.OM_uint32
	return check(C.mk_acquire_loop(C.int(n), &minor), minor)
}

// Wrap is gss_wrap.
func (c *Context) Wrap(data []byte, conf bool) ([]byte, error) {
	var op unsafe.Pointer
	var ol C.size_t
	var minor C.OM_uint32
	cf := C.int(0)
	if conf {
		cf = 1
	}
	major := C.mk_wrap(c.h, cf, ptr(data), C.size_t(len(data)), &op, &ol, &minor)
	return take(op, ol), check(major, minor)
}

// Unwrap is gss_unwrap.
func (c *Context) Unwrap(tok []byte) ([]byte, bool, error) {
	var op unsafe.Pointer
	var ol C.size_t
	var minor C.OM_uint32
	var conf C.int
	major := C.mk_unwrap(c.h, ptr(tok), C.size_t(len(tok)), &op, &ol, &conf, &minor)
	return take(op, ol), conf != 0, check(major, minor)
}

// WrapLoop wraps data n times (one cgo call).
func (c *Context) WrapLoop(data []byte, conf bool, n int) error {
	var minor C.OM_uint32
	cf := C.int(0)
	if conf {
		cf = 1
	}
	return check(C.mk_wrap_loop(c.h, cf, ptr(data), C.size_t(len(data)), C.int(n), &minor), minor)
}

// UnwrapLoop unwraps tok n times (one cgo call); the context must not
// detect replays.
func (c *Context) UnwrapLoop(tok []byte, n int) error {
	var minor C.OM_uint32
	return check(C.mk_unwrap_loop(c.h, ptr(tok), C.size_t(len(tok)), C.int(n), &minor), minor)
}

// Delete is gss_delete_sec_context.
func (c *Context) Delete() { C.mk_delete(&c.h) }
