//go:build linux

package dcerpc

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
)

func TestMain(m *testing.M) { addc.Main(m) }

// TestEptMapNetlogon asks the Samba DC's endpoint mapper for NETLOGON's
// port, binds NETLOGON there and gets a fault for an operation it does not
// have. With -record it writes the PDUs to testdata/epm-netlogon.json,
// which the tests without the DC replay.
func TestEptMapNetlogon(t *testing.T) {
	addc.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rec recording
	c, err := Dial(ctx, JoinPort(addc.Addr, 135))
	if err != nil {
		t.Fatal(err)
	}
	c.Trace = rec.add(0)
	port, err := c.EptMap(ctx, netlogonIf)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NETLOGON on port %d", port)
	c, err = Dial(ctx, JoinPort(addc.Addr, port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Trace = rec.add(1)
	if err := c.Bind(ctx, netlogonIf, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(ctx, 200, nil)
	f, ok := err.(*Fault)
	if !ok || f.Status != FaultOpRangeError {
		t.Fatalf("opnum 200: %v", err)
	}
	rec.Port = port
	if *record {
		b, _ := json.MarshalIndent(&rec, "", "  ")
		if err := os.WriteFile("testdata/epm-netlogon.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A bind of an interface the DC does not have is refused.
	c2, err := Dial(ctx, JoinPort(addc.Addr, port))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	err = c2.Bind(ctx, SyntaxID{UUID: ParseUUID("00000000-1111-2222-3333-444444444444"), Major: 1}, nil)
	if _, ok := err.(*BindError); !ok {
		t.Fatalf("bind of an unknown interface: %v", err)
	}
}
