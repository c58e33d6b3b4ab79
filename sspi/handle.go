package sspi

import (
	"fmt"
	"time"
)

// SecHandle is an opaque handle (SecHandle): two words that name a
// credential or a context in a host's handle table. It is never a pointer;
// the zero value is the invalid handle.
type SecHandle struct {
	Lower uint64 // dwLower
	Upper uint64 // dwUpper
}

// IsValid reports whether h is not the invalid (zero) handle, like
// SecIsValidHandle.
func (h SecHandle) IsValid() bool { return h != SecHandle{} }

// String formats the handle for logs.
func (h SecHandle) String() string { return fmt.Sprintf("{%#x:%#x}", h.Upper, h.Lower) }

// CredHandle names a credential (CredHandle).
type CredHandle SecHandle

// CtxtHandle names a security context (CtxtHandle).
type CtxtHandle SecHandle

// IsValid reports whether h is not the invalid (zero) handle.
func (h CredHandle) IsValid() bool { return SecHandle(h).IsValid() }

// IsValid reports whether h is not the invalid (zero) handle.
func (h CtxtHandle) IsValid() bool { return SecHandle(h).IsValid() }

// String formats the handle for logs.
func (h CredHandle) String() string { return "cred" + SecHandle(h).String() }

// String formats the handle for logs.
func (h CtxtHandle) String() string { return "ctxt" + SecHandle(h).String() }

// TimeStamp is the expiry SSPI returns. The zero TimeStamp means "never".
type TimeStamp = time.Time
