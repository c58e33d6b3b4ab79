//go:build linux

package netlogon

import (
	"testing"

	"github.com/gosspi/gosspi/internal/addc"
)

func TestMain(m *testing.M) { addc.Main(m) }
