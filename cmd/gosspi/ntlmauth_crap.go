package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/ntlmauth"
	"github.com/gosspi/gosspi/sspi"
)

// crapOptions are the flags of ntlm_auth's challenge-response check
// (Samba's check_auth_crap), the form FreeRADIUS's mschap module runs:
//
//	ntlm_auth --request-nt-key --username=U --domain=D --challenge=HEX --nt-response=HEX
type crapOptions struct {
	challenge, ntResponse, lmResponse string
	requestNTKey, requestLMKey        bool
	allowMSCHAPv2                     bool
	user, domain, workstation         string
}

func crapFlags(fs *flag.FlagSet, o *crapOptions) {
	fs.StringVar(&o.challenge, "challenge", "", "the 8-byte challenge, in hex (MS-CHAP: the one the peer answered)")
	fs.StringVar(&o.ntResponse, "nt-response", "", "the NT response, in hex")
	fs.StringVar(&o.lmResponse, "lm-response", "", "the LM response, in hex")
	fs.BoolVar(&o.requestNTKey, "request-nt-key", false, "print the user session key as NT_KEY: <hex>")
	fs.BoolVar(&o.requestLMKey, "request-lm-key", false, "accepted for compatibility with Samba (no LM key is printed)")
	fs.BoolVar(&o.allowMSCHAPv2, "allow-mschapv2", false, "accepted for compatibility with Samba (24-byte responses are always checked as MS-CHAP)")
}

// wanted reports whether the command line asks for a response check.
func (o *crapOptions) wanted() bool {
	return o.challenge != "" || o.ntResponse != "" || o.requestNTKey
}

// runCrap checks one response at the domain controller and prints what
// Samba's ntlm_auth prints.
func runCrap(o *crapOptions, dco *dcOptions) int {
	chal, err := hex.DecodeString(o.challenge)
	if err != nil || len(chal) != 8 {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: --challenge must be 8 bytes in hex")
		return exitUsage
	}
	nt, err := hex.DecodeString(o.ntResponse)
	if err != nil || len(nt) == 0 {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: --nt-response must be hex")
		return exitUsage
	}
	lm, err := hex.DecodeString(o.lmResponse)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: --lm-response must be hex")
		return exitUsage
	}
	user, domain := o.user, o.domain
	if domain == "" {
		user, domain = ntlm.SplitUserName(user)
	}
	if user == "" {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: --username is required")
		return exitUsage
	}
	dc, err := dco.client()
	if err == nil && dc == nil {
		err = &usageError{"a response check needs the domain controller: give -dc and -machine"}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth:", err)
		return exitCodeOf(err)
	}
	defer dc.Close()
	ws := o.workstation
	if ws == "" {
		_, ws, _, _ = dc.TargetNames()
	}
	req := &ntlm.VerifyRequest{User: user, Domain: domain, Workstation: ws, NTResponse: nt, LMResponse: lm, MSCHAP: len(nt) == 24}
	copy(req.ServerChallenge[:], chal)
	ctx, cancel := context.WithTimeout(context.Background(), dco.timeout+5*time.Second)
	defer cancel()
	l, err := dc.VerifyResponse(ctx, req)
	if err != nil {
		name, code := ntlmauth.NTStatus(err)
		// FreeRADIUS reads the hexadecimal status in parentheses.
		detail := err.Error()
		var se *sspi.Error
		if errors.As(err, &se) && se.Detail != "" {
			detail = se.Detail
		}
		fmt.Printf("%s: %s (0x%x)\n", name, detail, code)
		return exitFailure // as Samba's ntlm_auth
	}
	if o.requestNTKey {
		fmt.Printf("NT_KEY: %s\n", strings.ToUpper(hex.EncodeToString(l.SessionKey[:])))
	}
	l.SessionKey = [16]byte{}
	return exitOK
}
