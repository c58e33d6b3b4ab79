//go:build linux

package adtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
)

// pacRecording is a real AD AP-REQ whose PAC is full (Carol's fourteen
// groups), with the keys to open it and what the acceptor and the DC made
// of it: the kerberos package's PAC unit tests, fuzz seeds and benchmark
// read it (kerberos/testdata/ad-pac.json) and need no DC.
type pacRecording struct {
	Comment     string        `json:"comment"`
	RecordedAt  time.Time     `json:"recorded_at"`
	Samba       string        `json:"samba"`
	Realm       string        `json:"realm"`
	SPN         string        `json:"spn"`
	Client      string        `json:"client"`
	Keytab      string        `json:"keytab"`     // the service's keys, beside this file
	KDCKeytab   string        `json:"kdc_keytab"` // the krbtgt keys, beside this file
	APReq       []byte        `json:"ap_req"`     // the client's GSS InitialContextToken
	Identity    sspi.Identity `json:"identity"`   // what gosspi's acceptor made of it
	TokenGroups []string      `json:"token_groups"`
	GroupNames  []string      `json:"group_names"` // Carol's groups by name, PACGroups then PACUniversal
	GroupSIDs   []string      `json:"group_sids"`  // their SIDs, in the same order
}

const pacRecordingDir = "../../kerberos/testdata"

// TestRecordADPAC writes kerberos/testdata/ad-pac.json and its two
// keytabs when GOSSPI_ADDC_RECORD=1: gosspi's initiator logs on as Carol
// (default enctypes) for the service SPN, and gosspi's acceptor accepts
// the AP-REQ with the exported keytab.
func TestRecordADPAC(t *testing.T) {
	if os.Getenv("GOSSPI_ADDC_RECORD") != "1" {
		t.Log("not recording (set GOSSPI_ADDC_RECORD=1 to record kerberos/testdata/ad-pac.json anew)")
		return
	}
	dc := addc.Start(t)
	at := sysenv.Now().UTC().Truncate(time.Second)
	tok, id, _ := pacLogon(t, dc, addc.Carol.Name, addc.Carol.Password)
	for src, dst := range map[string]string{dc.Keytab: "ad-pac-service.keytab", filepath.Join(dc.Dir, addc.KDCKeytab): "ad-pac-krbtgt.keytab"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pacRecordingDir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := pacRecording{
		Comment: "Recorded by TestRecordADPAC (GOSSPI_ADDC_RECORD=1 go test -run TestRecordADPAC ./internal/adtest) against the Samba AD DC " +
			"of internal/addc: carol, in fourteen groups. The keytabs hold the service's and the krbtgt keys of that throwaway DC (fixed test passwords).",
		RecordedAt: at, Samba: dc.Version, Realm: addc.Realm, SPN: addc.SPN, Client: dc.Principal(addc.Carol.Name),
		Keytab: "ad-pac-service.keytab", KDCKeytab: "ad-pac-krbtgt.keytab", APReq: tok, Identity: id,
		TokenGroups: tokenGroups(t, dc, addc.Carol.Name),
	}
	for _, g := range append(append([]string(nil), addc.PACGroups...), addc.PACUniversal) {
		r.GroupNames = append(r.GroupNames, g)
		r.GroupSIDs = append(r.GroupSIDs, sidOf(t, dc, g))
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pacRecordingDir, "ad-pac.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
