package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

func init() {
	registerDemo(30, "Kerberos (when a KDC is configured)", demoKerberos)
}

// kerberosDemoSetup finds what the Kerberos leg needs in the environment,
// as MIT tools do: krb5.conf (KRB5_CONFIG or /etc/krb5.conf), a FILE
// ccache with a TGT (KRB5CCNAME or /tmp/krb5cc_UID), and a keytab for the
// service (KRB5_KTNAME or /etc/krb5.keytab). The target is GOSSPI_KRB5_TARGET
// or the keytab's first principal. It returns what is missing.
func kerberosDemoSetup() (target string, missing []string) {
	conf := os.Getenv("KRB5_CONFIG")
	if conf == "" {
		conf = "/etc/krb5.conf"
	}
	if _, err := os.Stat(strings.Split(conf, ":")[0]); err != nil {
		missing = append(missing, "krb5.conf (set KRB5_CONFIG)")
	}
	cc := os.Getenv("KRB5CCNAME")
	if cc == "" {
		cc = fmt.Sprintf("FILE:/tmp/krb5cc_%d", os.Getuid())
	}
	if _, err := os.Stat(strings.TrimPrefix(cc, "FILE:")); err != nil {
		missing = append(missing, "a ticket cache (run kinit, or set KRB5CCNAME=FILE:...)")
	}
	kt := os.Getenv("KRB5_KTNAME")
	if kt == "" {
		kt = "/etc/krb5.keytab"
	}
	princs, err := kerberos.KeytabPrincipals(kt)
	if err != nil || len(princs) == 0 {
		missing = append(missing, "a service keytab (set KRB5_KTNAME)")
	}
	target = os.Getenv("GOSSPI_KRB5_TARGET")
	if target == "" && len(princs) > 0 {
		target = princs[0]
	}
	return target, missing
}

// demoKerberos runs the Kerberos package through the host and the SSPI
// surface: the client's TGT from the ccache, the server's keytab, the
// AP-REQ / AP-REP exchange with mutual authentication, and a sealed round
// trip in the mapped user-mode contexts. Without a KDC it prints how to
// enable it and succeeds.
func demoKerberos(w io.Writer) error {
	target, missing := kerberosDemoSetup()
	if len(missing) > 0 {
		fmt.Fprintf(w, "   skipped: no KDC configured; missing %s.\n", strings.Join(missing, ", "))
		fmt.Fprintln(w, "   To enable: point KRB5_CONFIG at a krb5.conf naming your KDC, kinit as a user,")
		fmt.Fprintln(w, "   set KRB5_KTNAME to a keytab holding a service principal such as HTTP/host@REALM")
		fmt.Fprintln(w, "   (GOSSPI_KRB5_TARGET picks one), and run `gosspi demo` again.")
		return nil
	}
	host, err := lsa.New(lsa.Config{}, kerberos.New(kerberos.Config{}))
	if err != nil {
		return err
	}
	defer host.Close()
	t := sspi.InitSecurityInterface(host, kerberos.UserMode())
	defer t.Close()
	var ccred, scred sspi.CredHandle
	if st := t.AcquireCredentialsHandle("", kerberos.PackageName, sspi.SECPKG_CRED_OUTBOUND, nil, &ccred, nil); st.Failed() {
		return fmt.Errorf("client credentials from the ccache: %v", st)
	}
	defer t.FreeCredentialsHandle(&ccred)
	if st := t.AcquireCredentialsHandle(target, kerberos.PackageName, sspi.SECPKG_CRED_INBOUND, nil, &scred, nil); st.Failed() {
		return fmt.Errorf("server credentials from the keytab: %v", st)
	}
	defer t.FreeCredentialsHandle(&scred)
	spn := target
	if i := strings.LastIndexByte(spn, '@'); i >= 0 {
		spn = spn[:i]
	}
	fmt.Fprintf(w, "   target %s (client TGT from the ccache, server key from the keytab)\n", spn)
	ireq := sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT
	areq := sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT
	var cctx, sctx sspi.CtxtHandle
	var cprev, sprev *sspi.CtxtHandle
	var in *sspi.SecBufferDesc
	for i := 0; i < 4; i++ {
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var iattr sspi.ISCRet
		st := t.InitializeSecurityContext(&ccred, cprev, spn, ireq, sspi.SECURITY_NATIVE_DREP, in, &cctx, out, &iattr, nil)
		fmt.Fprintf(w, "   client InitializeSecurityContext -> %-21s token %4d bytes  %s\n", st, len(out.Token()), iattr)
		if st.Failed() {
			return st
		}
		cprev = &cctx
		if st == sspi.SEC_E_OK {
			break
		}
		sout := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var aattr sspi.ASCRet
		st = t.AcceptSecurityContext(&scred, sprev, sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()}), areq, sspi.SECURITY_NATIVE_DREP, &sctx, sout, &aattr, nil)
		fmt.Fprintf(w, "   server AcceptSecurityContext     -> %-21s token %4d bytes  %s\n", st, len(sout.Token()), aattr)
		if st.Failed() {
			return st
		}
		sprev = &sctx
		in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: sout.Token()})
	}
	if sprev == nil {
		return errors.New("handshake did not reach the server")
	}
	defer t.DeleteSecurityContext(&cctx)
	defer t.DeleteSecurityContext(&sctx)
	var names sspi.SecPkgContextNames
	if st := t.QueryContextAttributes(&sctx, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() {
		return st
	}
	fmt.Fprintf(w, "   server authenticated %s\n", names.UserName)
	plain := []byte("a sealed hello over Kerberos")
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), plain...)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING})
	if st := t.EncryptMessage(&cctx, 0, msg, 0); st.Failed() {
		return fmt.Errorf("EncryptMessage: %v", st)
	}
	wrapped := append(append(append([]byte(nil), msg.Buffers[0].Buffer...), msg.Buffers[1].Buffer...), msg.Buffers[2].Buffer...)
	fmt.Fprintf(w, "   client EncryptMessage: %d bytes -> %d-byte RFC 4121 wrap token\n", len(plain), len(wrapped))
	dm := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: wrapped}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if st := t.DecryptMessage(&sctx, dm, 0, nil); st.Failed() {
		return fmt.Errorf("DecryptMessage: %v", st)
	}
	fmt.Fprintf(w, "   server DecryptMessage: %q\n", dm.Buffers[1].Buffer)
	return nil
}
