package dcerpc

import "fmt"

// Fault is a fault PDU: the server could not run the call (C706 12.6.4.7).
// Status is the fault status (C706 appendix E, MS-RPCE 2.2.2.9: an
// nca_s_* code or a Windows error such as ERROR_ACCESS_DENIED).
type Fault struct {
	Status uint32
	// DidNotExecute is PFC_DID_NOT_EXECUTE: the server did not start the
	// call.
	DidNotExecute bool
}

// Fault statuses the callers tell apart.
const (
	FaultAccessDenied    = 0x00000005 // ERROR_ACCESS_DENIED
	FaultOpRangeError    = 0x1c010002 // nca_s_op_rng_error
	FaultUnknownIf       = 0x1c010003 // nca_s_unknown_if
	FaultProtoError      = 0x1c01000b // nca_s_proto_error
	FaultBadStubData     = 0x000006f7 // RPC_X_BAD_STUB_DATA (nca_s_fault_ndr)
	FaultSecPkgError     = 0x00000721 // RPC_S_SEC_PKG_ERROR
	FaultContextMismatch = 0x1c00001a // nca_s_fault_context_mismatch
)

var faultNames = map[uint32]string{
	FaultAccessDenied:    "access denied",
	FaultOpRangeError:    "nca_s_op_rng_error (operation number out of range)",
	FaultUnknownIf:       "nca_s_unknown_if (unknown interface)",
	FaultProtoError:      "nca_s_proto_error",
	FaultBadStubData:     "RPC_X_BAD_STUB_DATA",
	FaultSecPkgError:     "RPC_S_SEC_PKG_ERROR (security package error)",
	FaultContextMismatch: "nca_s_fault_context_mismatch",
}

func (f *Fault) Error() string {
	n, ok := faultNames[f.Status]
	if !ok {
		n = "fault"
	}
	return fmt.Sprintf("dcerpc: fault 0x%08x: %s", f.Status, n)
}
