//go:build linux

// Package adtest holds the tests of gosspi against a real Active Directory
// domain controller: Samba's, started by internal/addc inside a private
// network and PID namespace that TestMain makes for this test binary.
// There are only tests here.
package adtest

import (
	"testing"

	"github.com/gosspi/gosspi/internal/addc"
)

func TestMain(m *testing.M) { addc.Main(m) }
