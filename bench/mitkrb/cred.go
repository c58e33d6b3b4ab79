package mitkrb

/*
#include <gssapi/gssapi.h>

static gss_OID_desc ck_krb5_mech = {9, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};

// mk_accept_loop_cred is mk_accept_loop with an acceptor credential
// acquired once (default name, krb5) and passed to every accept, as a
// server that keeps its credential does.
static OM_uint32 mk_accept_loop_cred(const void *in, size_t inlen, int n, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_OID_set_desc mechs = {1, &ck_krb5_mech};
	gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
	major = gss_acquire_cred(minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &cred, NULL, NULL);
	if (GSS_ERROR(major)) return major;
	gss_buffer_desc ib = {inlen, (void *)in};
	for (int i = 0; i < n; i++) {
		gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
		gss_buffer_desc ob = GSS_C_EMPTY_BUFFER;
		major = gss_accept_sec_context(minor, &ctx, cred, &ib, GSS_C_NO_CHANNEL_BINDINGS,
			NULL, NULL, &ob, NULL, NULL, NULL);
		gss_release_buffer(&m2, &ob);
		gss_delete_sec_context(&m2, &ctx, GSS_C_NO_BUFFER);
		if (GSS_ERROR(major)) break;
	}
	gss_release_cred(&m2, &cred);
	return major;
}
*/
import "C"

// AcceptLoopCred accepts token n times with fresh contexts and one
// acceptor credential (gss_acquire_cred for GSS_C_ACCEPT from the default
// keytab, once) instead of GSS_C_NO_CREDENTIAL.
func AcceptLoopCred(token []byte, n int) error {
	var minor C.OM_uint32
	return check(C.mk_accept_loop_cred(ptr(token), C.size_t(len(token)), C.int(n), &minor), minor)
}
