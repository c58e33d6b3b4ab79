package sasl

import (
	"io"
	"net"
	"testing"
)

// benchPairs are established layers for the benchmarks: Kerberos (MIT
// realm, aes256-cts) and NTLM, sealing and signing.
func benchPairs(b *testing.B) []struct {
	name     string
	cli, srv *Security
} {
	var out []struct {
		name     string
		cli, srv *Security
	}
	add := func(name string, c *Client, s *Server) {
		cs, ss, _ := run(b, c, s)
		out = append(out, struct {
			name     string
			cli, srv *Security
		}{name, cs, ss})
	}
	c, s := kerberosPair(b, GSSAPI, LayerConfidentiality, AllLayers)
	add("kerberos-seal", c, s)
	c, s = kerberosPair(b, GSSAPI, LayerIntegrity, AllLayers)
	add("kerberos-sign", c, s)
	c, s = ntlmPair(b, AllLayers, AllLayers)
	add("ntlm-seal", c, s)
	c, s = ntlmPair(b, LayerIntegrity, AllLayers)
	add("ntlm-sign", c, s)
	return out
}

// BenchmarkLayer measures the security layer's wrap and unwrap of a 16 KiB
// buffer (one LDAP search result's worth), against the context's own
// Wrap/Unwrap (sealing) as the baseline, and through a Conn over a pipe.
func BenchmarkLayer(b *testing.B) {
	msg := make([]byte, 16<<10)
	for _, p := range benchPairs(b) {
		b.Run(p.name+"/wrap-unwrap", func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				tok, err := p.cli.Wrap(msg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.srv.Unwrap(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		if p.cli.Layer() == LayerConfidentiality {
			b.Run(p.name+"/context-baseline", func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					tok, err := p.cli.sc.Wrap(msg)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := p.srv.sc.Unwrap(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(p.name+"/conn", func(b *testing.B) {
			x, y := net.Pipe()
			w, r := NewConn(x, p.cli), NewConn(y, p.srv)
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, len(msg))
				for {
					if _, err := io.ReadFull(r, buf); err != nil {
						done <- err
						return
					}
				}
			}()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			x.Close()
			<-done
		})
	}
}
