package mitkrb

/*
#include <stdlib.h>
#include <string.h>
#include <gssapi/gssapi.h>

static char *mk_display(gss_name_t name, OM_uint32 *major, OM_uint32 *minor) {
	OM_uint32 m2;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	*major = gss_display_name(minor, name, &b, NULL);
	if (GSS_ERROR(*major)) return NULL;
	char *s = malloc(b.length + 1);
	memcpy(s, b.value, b.length);
	s[b.length] = 0;
	gss_release_buffer(&m2, &b);
	return s;
}

// mk_names is gss_inquire_context for the initiator and acceptor names,
// each through gss_display_name.
static OM_uint32 mk_names(gss_ctx_id_t ctx, char **src, char **targ, OM_uint32 *minor) {
	OM_uint32 major, m2;
	gss_name_t sn = GSS_C_NO_NAME, tn = GSS_C_NO_NAME;
	*src = NULL; *targ = NULL;
	major = gss_inquire_context(minor, ctx, &sn, &tn, NULL, NULL, NULL, NULL, NULL);
	if (GSS_ERROR(major)) return major;
	*src = mk_display(sn, &major, minor);
	if (!GSS_ERROR(major)) *targ = mk_display(tn, &major, minor);
	gss_release_name(&m2, &sn);
	gss_release_name(&m2, &tn);
	return major;
}
*/
import "C"

import "unsafe"

func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return s
}

// Names is gss_inquire_context's source (initiator) and target (acceptor)
// names as gss_display_name spells them, such as "alice@REALM" and
// "HTTP/svc.localhost@REALM".
func (c *Context) Names() (src, target string, err error) {
	var sp, tp *C.char
	var minor C.OM_uint32
	major := C.mk_names(c.h, &sp, &tp, &minor)
	src, target = takeString(sp), takeString(tp)
	return src, target, check(major, minor)
}
