//go:build linux

package dcerpc

import (
	"context"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
)

func TestMain(m *testing.M) { addc.Main(m) }

var netlogonIf = SyntaxID{UUID: ParseUUID("12345678-1234-abcd-ef00-01234567cffb"), Major: 1}

// TestEptMapNetlogon asks the Samba DC's endpoint mapper for NETLOGON's
// port and binds it there.
func TestEptMapNetlogon(t *testing.T) {
	addc.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port, err := LookupPort(ctx, addc.Addr, netlogonIf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NETLOGON on port %d", port)
	c, err := Dial(ctx, JoinPort(addc.Addr, port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(ctx, netlogonIf, nil); err != nil {
		t.Fatal(err)
	}
	// An operation number NETLOGON does not have: a fault.
	_, err = c.Call(ctx, 200, nil)
	f, ok := err.(*Fault)
	if !ok || f.Status != FaultOpRangeError {
		t.Fatalf("opnum 200: %v", err)
	}
}
