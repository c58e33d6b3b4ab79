package mitkrb

/*
#cgo LDFLAGS: -lgssapi_krb5 -lkrb5
#include <stdlib.h>
#include <string.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

static gss_OID_desc hs_krb5 = {9, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};
static gss_OID_desc hs_ntlm = {10, "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"};
static gss_OID_desc hs_spnego = {6, "\x2b\x06\x01\x05\x05\x02"};

static gss_OID hs_mech(int m) {
	switch (m) {
	case 1: return &hs_ntlm;
	case 2: return &hs_spnego;
	default: return &hs_krb5;
	}
}

// hs_creds acquires an initiator and an acceptor credential for mechanism
// mech (0 krb5, 1 gss-ntlmssp, 2 SPNEGO). A user and password (NTLM) are
// given as "DOMAIN\\user"; for SPNEGO, inner (0 or 1) is the only
// mechanism it may negotiate (gss_set_neg_mechs on both credentials).
static OM_uint32 hs_creds(int mech, int inner, const char *user, const char *pw,
		gss_cred_id_t *ic, gss_cred_id_t *ac, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_OID_set_desc ms = {1, hs_mech(mech)};
	*ic = GSS_C_NO_CREDENTIAL;
	*ac = GSS_C_NO_CREDENTIAL;
	if (user != NULL) {
		gss_buffer_desc nb = {strlen(user), (void *)user};
		gss_name_t name = GSS_C_NO_NAME;
		major = gss_import_name(minor, &nb, GSS_C_NT_USER_NAME, &name);
		if (GSS_ERROR(major)) return major;
		gss_buffer_desc pb = {strlen(pw), (void *)pw};
		major = gss_acquire_cred_with_password(minor, name, &pb, GSS_C_INDEFINITE, &ms,
			GSS_C_INITIATE, ic, NULL, NULL);
		gss_release_name(&m2, &name);
	} else {
		major = gss_acquire_cred(minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &ms, GSS_C_INITIATE, ic, NULL, NULL);
	}
	if (GSS_ERROR(major)) return major;
	major = gss_acquire_cred(minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &ms, GSS_C_ACCEPT, ac, NULL, NULL);
	if (GSS_ERROR(major)) return major;
	if (mech == 2) {
		gss_OID_set_desc neg = {1, hs_mech(inner)};
		major = gss_set_neg_mechs(minor, *ic, &neg);
		if (GSS_ERROR(major)) return major;
		major = gss_set_neg_mechs(minor, *ac, &neg);
		if (GSS_ERROR(major)) return major;
	}
	return GSS_S_COMPLETE;
}

// hs_loop runs n complete handshakes between an initiator and an acceptor
// context in this process (every leg of gss_init_sec_context and
// gss_accept_sec_context until both report GSS_S_COMPLETE), deleting both
// contexts each time. *legs is the number of tokens of the last one.
static OM_uint32 hs_loop(int mech, gss_cred_id_t ic, gss_cred_id_t ac, const char *target,
		OM_uint32 flags, int n, int *legs, OM_uint32 *minor) {
	OM_uint32 major = 0, m2;
	gss_buffer_desc nb = {strlen(target), (void *)target};
	gss_name_t name = GSS_C_NO_NAME;
	major = gss_import_name(minor, &nb, GSS_C_NT_HOSTBASED_SERVICE, &name);
	if (GSS_ERROR(major)) return major;
	for (int i = 0; i < n; i++) {
		gss_ctx_id_t ictx = GSS_C_NO_CONTEXT, actx = GSS_C_NO_CONTEXT;
		gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
		int idone = 0, adone = 0, k = 0, toks = 0;
		for (k = 0; k < 8 && !(idone && adone); k++) {
			out.length = 0; out.value = NULL;
			if (k % 2 == 0) {
				if (idone) break;
				major = gss_init_sec_context(minor, ic, &ictx, name, hs_mech(mech), flags, 0,
					GSS_C_NO_CHANNEL_BINDINGS, k ? &in : GSS_C_NO_BUFFER, NULL, &out, NULL, NULL);
				idone = major == GSS_S_COMPLETE;
			} else {
				if (adone) break;
				major = gss_accept_sec_context(minor, &actx, ac, &in, GSS_C_NO_CHANNEL_BINDINGS,
					NULL, NULL, &out, NULL, NULL, NULL);
				adone = major == GSS_S_COMPLETE;
			}
			gss_release_buffer(&m2, &in);
			in = out;
			if (out.length) toks++;
			if (GSS_ERROR(major)) break;
		}
		gss_release_buffer(&m2, &in);
		gss_delete_sec_context(&m2, &ictx, GSS_C_NO_BUFFER);
		gss_delete_sec_context(&m2, &actx, GSS_C_NO_BUFFER);
		if (GSS_ERROR(major)) break;
		if (!idone || !adone) { major = GSS_S_FAILURE; *minor = 0; break; }
		*legs = toks;
	}
	gss_release_name(&m2, &name);
	return major;
}

static void hs_release(gss_cred_id_t *c) {
	OM_uint32 m;
	gss_release_cred(&m, c);
}
*/
import "C"

import "unsafe"

// Mechanisms for Handshaker.
const (
	MechKerberos = 0 // MIT krb5
	MechNTLM     = 1 // gss-ntlmssp through MIT's mechglue
	MechSPNEGO   = 2 // MIT's SPNEGO around one inner mechanism
)

// Handshaker runs complete MIT GSS-API handshakes, both sides in this
// process, with credentials acquired once.
type Handshaker struct {
	mech   C.int
	ic, ac C.gss_cred_id_t
	target *C.char
	flags  C.OM_uint32
}

// NewHandshaker acquires an initiator and an acceptor credential for mech.
// For MechSPNEGO, inner is the one mechanism SPNEGO may negotiate. user and
// password ("DOMAIN\user") are for NTLM; Kerberos uses KRB5CCNAME and
// KRB5_KTNAME, gss-ntlmssp's acceptor NTLM_USER_FILE.
func NewHandshaker(mech, inner int, user, password, target string, flags uint32) (*Handshaker, error) {
	h := &Handshaker{mech: C.int(mech), target: C.CString(target), flags: C.OM_uint32(flags)}
	var cu, cp *C.char
	if user != "" {
		cu, cp = C.CString(user), C.CString(password)
		defer C.free(unsafe.Pointer(cu))
		defer C.free(unsafe.Pointer(cp))
	}
	var minor C.OM_uint32
	if err := check(C.hs_creds(h.mech, C.int(inner), cu, cp, &h.ic, &h.ac, &minor), minor); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Run runs n handshakes in one cgo call and returns the number of tokens
// the last one exchanged.
func (h *Handshaker) Run(n int) (legs int, err error) {
	var minor C.OM_uint32
	var l C.int
	err = check(C.hs_loop(h.mech, h.ic, h.ac, h.target, h.flags, C.int(n), &l, &minor), minor)
	return int(l), err
}

// Close releases the credentials.
func (h *Handshaker) Close() {
	C.hs_release(&h.ic)
	C.hs_release(&h.ac)
	if h.target != nil {
		C.free(unsafe.Pointer(h.target))
		h.target = nil
	}
}
