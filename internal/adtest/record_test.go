//go:build linux

package adtest

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/pac"
	krbtypes "github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
)

// recording is a real AD AP-REQ (with its PAC) and what the acceptor made
// of it, kept in testdata/ for tests and fuzz seeds that need no DC.
type recording struct {
	Comment    string    `json:"comment"`
	RecordedAt time.Time `json:"recorded_at"`
	Samba      string    `json:"samba"`
	Realm      string    `json:"realm"`
	SPN        string    `json:"spn"`
	Client     string    `json:"client"`
	Keytab     string    `json:"keytab"` // file beside this one
	APReq      []byte    `json:"ap_req"` // the client's GSS InitialContextToken
	APRep      []byte    `json:"ap_rep"` // the acceptor's answer
	SID        string    `json:"sid"`
	Groups     []string  `json:"groups"`
}

const recordingFile = "testdata/ad-apreq.json"

// TestRecordADAPReq writes testdata/ad-apreq.json and
// testdata/ad-service.keytab when GOSSPI_ADDC_RECORD=1: gosspi's initiator
// logs on to the Samba DC as alice (default enctypes) for the service SPN,
// and gosspi's acceptor accepts the AP-REQ with the exported keytab.
func TestRecordADAPReq(t *testing.T) {
	if os.Getenv("GOSSPI_ADDC_RECORD") != "1" {
		t.Log("not recording (set GOSSPI_ADDC_RECORD=1 to record testdata/ad-apreq.json anew)")
		return
	}
	dc := addc.Start(t)
	cli := clientHost(t, dc, "DEFAULT")
	c, err := newClient(t, cli.Host, password(addc.Alice.Name, addc.Alice.Password), addc.SPN)
	if err != nil {
		t.Fatal(err)
	}
	at := sysenv.Now().UTC().Truncate(time.Second)
	s := newServer(t, serverHost(t, dc).Host)
	req, rep := exchange(t, c, s)
	id := identity(t, s)
	kt, err := os.ReadFile(dc.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/ad-service.keytab", kt, 0o644); err != nil {
		t.Fatal(err)
	}
	r := recording{
		Comment: "Recorded by TestRecordADAPReq (GOSSPI_ADDC_RECORD=1 go test -run TestRecordADAPReq ./internal/adtest) " +
			"against the Samba AD DC of internal/addc; ad-service.keytab holds the service's keys (throwaway DC, fixed test password)",
		RecordedAt: at, Samba: dc.Version, Realm: addc.Realm, SPN: addc.SPN, Client: dc.Principal(addc.Alice.Name),
		Keytab: "ad-service.keytab", APReq: req, APRep: rep, SID: id.SID, Groups: id.Groups,
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recordingFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReplayADAPReq accepts the recorded AD AP-REQ offline, on a clock
// pinned to the recording, and checks the PAC identity against the one
// recorded: no DC is needed.
func TestReplayADAPReq(t *testing.T) {
	b, err := os.ReadFile(recordingFile)
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	now := testutil.PinClock(t, r.RecordedAt.Add(time.Second))
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n\tdefault_realm = "+r.Realm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, kerberos.Config{Krb5Conf: conf, Keytab: filepath.Join("testdata", r.Keytab), ServicePrincipal: r.SPN, Now: now, DisableReplayCache: true})
	s := newServer(t, h)
	rep, done, err := step(s, r.APReq)
	if err != nil || !done || len(rep) == 0 {
		t.Fatalf("accepting the recorded AP-REQ: done %v, AP-REP %d bytes, %v", done, len(rep), err)
	}
	id := identity(t, s)
	if id.Principal != r.Client || id.SID != r.SID || !slices.Equal(id.Groups, r.Groups) {
		t.Errorf("identity %+v, recorded %s %s %v", id, r.Client, r.SID, r.Groups)
	}
}

// TestRecordedPACBuffers lists the PAC buffers of the recorded AD ticket
// (decrypted with the recorded keytab by gokrb5) and checks what gosspi's
// acceptor makes of them against gokrb5's own decoding of the same PAC:
// the SIDs in the same order, the names, UPN_DNS_INFO.
func TestRecordedPACBuffers(t *testing.T) {
	b, err := os.ReadFile(recordingFile)
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(filepath.Join("testdata", r.Keytab))
	if err != nil {
		t.Fatal(err)
	}
	req := apReq(t, r.APReq)
	if err := req.Ticket.DecryptEncPart(kt, nil); err != nil {
		t.Fatalf("decrypt the recorded ticket: %v", err)
	}
	var types []uint32
	var pt pac.PACType
	for _, e := range req.Ticket.DecryptedEncPart.AuthorizationData {
		if e.ADType != 1 { // AD-IF-RELEVANT
			continue
		}
		var inner krbtypes.AuthorizationData
		if err := inner.Unmarshal(e.ADData); err != nil {
			t.Fatal(err)
		}
		for _, ie := range inner {
			if ie.ADType == 128 { // AD-WIN2K-PAC
				if err := pt.Unmarshal(ie.ADData); err != nil {
					t.Fatal(err)
				}
				for _, buf := range pt.Buffers {
					types = append(types, buf.ULType)
				}
			}
		}
	}
	if len(types) == 0 {
		t.Fatal("the recorded AD ticket has no PAC")
	}
	// MS-PAC 2.4: 1 logon info, 6 server and 7 KDC signatures, 10 client
	// info, 12 UPN and DNS info, 16 ticket signature, 17 attributes, 18
	// requester SID.
	t.Logf("PAC buffer types: %v", types)
	for _, want := range []uint32{1, 6, 7, 10} {
		if !slices.Contains(types, want) {
			t.Errorf("PAC lacks buffer type %d", want)
		}
	}
	key, _, err := kt.GetEncryptionKey(req.Ticket.SName, req.Ticket.Realm, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType)
	if err != nil {
		t.Fatal(err)
	}
	if err := pt.ProcessPACInfoBuffers(key, log.New(io.Discard, "", 0)); err != nil {
		t.Fatalf("PAC: %v", err)
	}
	v := pt.KerbValidationInfo
	t.Logf("logon info: EffectiveName %q, LogonDomainName %q, LogonServer %q, UserAccountControl %#x, UserFlags %#x, groups %d, extra SIDs %d, resource groups %d",
		v.EffectiveName.String(), v.LogonDomainName.String(), v.LogonServer.String(), v.UserAccountControl, v.UserFlags,
		v.GroupCount, v.SIDCount, v.ResourceGroupCount)
	if pt.UPNDNSInfo != nil {
		t.Logf("UPN and DNS info: UPN %q, DNS domain %q", pt.UPNDNSInfo.UPN, pt.UPNDNSInfo.DNSDomain)
	}
	if pt.ClientInfo != nil {
		t.Logf("client info: name %q", pt.ClientInfo.Name)
	}
	if v.LogonDomainName.String() != addc.Domain {
		t.Errorf("logon domain %q, want %q", v.LogonDomainName.String(), addc.Domain)
	}

	now := testutil.PinClock(t, r.RecordedAt.Add(time.Second))
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n\tdefault_realm = "+r.Realm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, newHost(t, kerberos.Config{Krb5Conf: conf, Keytab: filepath.Join("testdata", r.Keytab), ServicePrincipal: r.SPN, Now: now, DisableReplayCache: true}))
	if _, _, err := step(s, r.APReq); err != nil {
		t.Fatal(err)
	}
	id := identity(t, s)
	dom := v.LogonDomainID.String()
	if id.SID != fmt.Sprintf("%s-%d", dom, v.UserID) || id.PrimaryGroup != fmt.Sprintf("%s-%d", dom, v.PrimaryGroupID) ||
		!slices.Equal(id.Groups, v.GetGroupMembershipSIDs()) {
		t.Errorf("gosspi: SID %s primary %s groups %v; gokrb5: %s-%d %d %v", id.SID, id.PrimaryGroup, id.Groups, dom, v.UserID, v.PrimaryGroupID, v.GetGroupMembershipSIDs())
	}
	if id.User != v.EffectiveName.String() || id.LogonName != v.LogonDomainName.String()+`\`+v.EffectiveName.String() {
		t.Errorf("gosspi: User %q LogonName %q; gokrb5: %q %q", id.User, id.LogonName, v.EffectiveName.String(), v.LogonDomainName.String())
	}
	if u := pt.UPNDNSInfo; u == nil || id.UPN != u.UPN || id.DNSDomain != u.DNSDomain {
		t.Errorf("gosspi: UPN %q DNS domain %q; gokrb5: %+v", id.UPN, id.DNSDomain, pt.UPNDNSInfo)
	}
	if ci := pt.ClientInfo; ci == nil || !id.LogonTime.Equal(ci.ClientID.Time()) {
		t.Errorf("gosspi: LogonTime %v; gokrb5's client info %+v", id.LogonTime, pt.ClientInfo)
	}
}
