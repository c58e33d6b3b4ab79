package negotiate

import (
	"errors"
	"strings"

	"github.com/gosspi/gosspi/sspi"
)

// Negotiate falls back from one mechanism to the next, as Windows and MIT
// do: an initiator drops a mechanism it cannot start and offers the rest
// (RFC 4178 3.2 step 1; MS-SPNG 3.1.5.1), an acceptor picks the first of
// the initiator's mechanisms it has a credential for (RFC 4178 3.2 step 2).
// Each mechanism left out is recorded with the reason, so that a failure
// says why Kerberos was not used ("Kerberos skipped: target is an IP
// address; NTLM: SEC_E_LOGON_DENIED: ...") instead of showing only the
// last mechanism's error, and a success can report it too
// (SecPkgContextNegotiationInfo.Skipped).

// mechNote is one mechanism left out of the negotiation, and why.
type mechNote struct {
	pkg string // package name
	why string // in words
	err error  // the inner package's error, when there was one
}

// skippedNote records a mechanism left out without an error of its own.
func skippedNote(p *innerPkg, why string) mechNote { return mechNote{pkg: p.info.Name, why: why} }

// errorNote records a mechanism left out because its package failed.
func errorNote(p *innerPkg, err error) mechNote {
	return mechNote{pkg: p.info.Name, why: reason(err), err: err}
}

// reason is an error in words for a list of mechanisms: an *sspi.Error
// without its Op, so "SEC_E_NO_CREDENTIALS: no usable credential cache".
func reason(err error) string {
	var se *sspi.Error
	if errors.As(err, &se) {
		s := se.Status.String()
		if se.Detail != "" {
			s += ": " + se.Detail
		}
		if se.Err != nil && se.Err.Error() != se.Detail {
			s += ": " + se.Err.Error()
		}
		return s
	}
	var st sspi.Status
	if errors.As(err, &st) {
		return st.String()
	}
	return err.Error()
}

// detailOf is the Detail of Negotiate's own error (its Status is the
// outer error's).
func detailOf(err error) string {
	var se *sspi.Error
	if errors.As(err, &se) && se.Detail != "" {
		return se.Detail
	}
	return reason(err)
}

// innerError marks an error that an inner package's call returned, so
// that it is reported under that package's name even when nothing was
// skipped. It never leaves the package: explain unwraps it.
type innerError struct {
	pkg string
	err error
}

func (e *innerError) Error() string { return e.err.Error() }
func (e *innerError) Unwrap() error { return e.err }

// mechErrors is the cause of a Negotiate failure: the inner packages'
// errors, for errors.Is and errors.As. Its text is the outer Detail.
type mechErrors struct {
	text string
	errs []error
}

func (e *mechErrors) Error() string   { return e.text }
func (e *mechErrors) Unwrap() []error { return e.errs }

// failure builds the error of a failed Negotiate call: Status st; Detail
// the summary (if any), then each mechanism skipped and why, then each
// mechanism that failed and how; Err wraps cause and the inner errors.
func failure(op string, st sspi.Status, summary string, skipped, failed []mechNote, cause error) error {
	parts := make([]string, 0, len(skipped)+len(failed))
	var errs []error
	if cause != nil {
		errs = append(errs, cause)
	}
	for _, n := range skipped {
		parts = append(parts, n.pkg+" skipped: "+n.why)
		if n.err != nil {
			errs = append(errs, n.err)
		}
	}
	for _, n := range failed {
		parts = append(parts, n.pkg+": "+n.why)
		if n.err != nil && n.err != cause {
			errs = append(errs, n.err)
		}
	}
	detail := strings.Join(parts, "; ")
	if summary != "" {
		if detail != "" {
			detail = summary + ": " + detail
		} else {
			detail = summary
		}
	}
	return &sspi.Error{Op: op, Status: st, Detail: detail, Err: &mechErrors{text: detail, errs: errs}}
}

// skip records a mechanism this context left out.
func (c *negContext) skip(n mechNote) { c.notes = append(c.notes, n) }

// innerErr marks an error of the selected package's call.
func (c *negContext) innerErr(err error) error {
	if err == nil {
		return nil
	}
	return &innerError{pkg: c.sel.info.Name, err: err}
}

// allNotes are the credential's notes (packages without a credential)
// and the context's.
func (c *negContext) allNotes() []mechNote {
	if len(c.cred.notes) == 0 {
		return c.notes
	}
	return append(append([]mechNote(nil), c.cred.notes...), c.notes...)
}

// skipped renders the notes for SecPkgContextNegotiationInfo.Skipped:
// "Kerberos: target is an IP address".
func skipped(notes []mechNote) []string {
	if len(notes) == 0 {
		return nil
	}
	s := make([]string, len(notes))
	for i, n := range notes {
		s[i] = n.pkg + ": " + strings.ReplaceAll(n.why, "\n", " ")
	}
	return s
}

// explain turns the error of a failed call into Negotiate's: when
// mechanisms were skipped or an inner package failed, an *sspi.Error with
// the same Status whose Detail lists each mechanism and why, and which
// wraps the inner errors. Negotiate's own errors with nothing skipped,
// and SEC_E_INCOMPLETE_MESSAGE (not a failure: the caller sends more),
// are returned as they are.
func (c *negContext) explain(op string, err error) error {
	if err == nil {
		return nil
	}
	var ie *innerError
	fromInner := errors.As(err, &ie)
	if fromInner {
		err = ie.err
	}
	st := sspi.StatusOf(err)
	if st == sspi.SEC_E_INCOMPLETE_MESSAGE {
		return err
	}
	notes := c.allNotes()
	if len(notes) == 0 && !fromInner {
		return err
	}
	switch {
	case fromInner:
		return failure(op, st, "", notes, []mechNote{{pkg: ie.pkg, why: reason(err), err: err}}, err)
	case c.sel != nil:
		return failure(op, st, "", notes, []mechNote{{pkg: c.sel.info.Name, why: reason(err)}}, err)
	}
	return failure(op, st, detailOf(err), notes, nil, err)
}
