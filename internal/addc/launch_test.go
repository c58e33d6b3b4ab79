//go:build linux

package addc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLaunchFailureCarriesLog: a DC that cannot start is an error that
// holds samba's own log, which Start puts into the test's failure.
func TestLaunchFailureCarriesLog(t *testing.T) {
	dir := t.TempDir()
	d := &DC{Dir: dir, SMBConf: filepath.Join(dir, "smb.conf"), Krb5Conf: filepath.Join(dir, "krb5.conf"), log: filepath.Join(dir, "samba.log")}
	// An AD DC role with no provisioned database: samba refuses to start.
	conf := "[global]\n\tserver role = active directory domain controller\n\tprivate dir = " + dir + "\n\tlock dir = " + dir +
		"\n\tstate directory = " + dir + "\n\tcache directory = " + dir + "\n\tpid directory = " + dir + "\n"
	if err := os.WriteFile(d.SMBConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	err := d.launch()
	if err == nil {
		d.stop()
		t.Fatal("samba started without a database")
	}
	if !strings.Contains(err.Error(), "--- samba log") || len(strings.TrimSpace(d.Log())) == 0 || !strings.Contains(err.Error(), strings.TrimSpace(d.Log())) {
		t.Fatalf("error without samba's log: %v", err)
	}
	t.Logf("%v", err)
}
