package ldapsasl

import (
	"context"
	"errors"

	"github.com/go-ldap/ldap/v3"
	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sasl"
)

// GSSAPIClient implements go-ldap's ldap.GSSAPIClient (the SASL GSSAPI
// mechanism, RFC 4752) on gosspi's Kerberos, for Conn.GSSAPIBind. One
// client serves one bind.
type GSSAPIClient struct {
	h    *gosspi.Host
	cfg  sasl.ClientConfig
	conn *Conn
	ctx  context.Context

	c   *sasl.Client
	sec *sasl.Security // the negotiated layer, once armed on conn
}

var _ ldap.GSSAPIClient = (*GSSAPIClient)(nil)

// NewGSSAPIClient returns a client whose context h makes with cfg
// (Mechanism must be empty or GSSAPI; Context.Target defaults to the
// service principal GSSAPIBind is given). conn is the Conn the ldap.Conn
// runs on, where a negotiated signing or sealing layer starts when the
// bind succeeds; with a nil conn the client accepts only sasl.LayerNone
// (over LDAPS or after StartTLS, with cfg.Context.ChannelBindings).
func NewGSSAPIClient(ctx context.Context, h *gosspi.Host, conn *Conn, cfg sasl.ClientConfig) (*GSSAPIClient, error) {
	if cfg.Mechanism != "" && cfg.Mechanism != sasl.GSSAPI {
		return nil, errors.New("ldapsasl: go-ldap's GSSAPIBind sends only the GSSAPI mechanism; use Bind for " + cfg.Mechanism)
	}
	cfg.Mechanism = sasl.GSSAPI
	if conn == nil {
		if cfg.Layers&^sasl.LayerNone != 0 {
			return nil, errors.New("ldapsasl: a signing or sealing layer needs the Conn the ldap.Conn runs on")
		}
		cfg.Layers = sasl.LayerNone
	}
	return &GSSAPIClient{h: h, cfg: cfg, conn: conn, ctx: ctx}, nil
}

// InitSecContext runs one step of the Kerberos context for target (the
// service principal, "ldap/dc1.example.com"): RFC 4752 3.1.
func (g *GSSAPIClient) InitSecContext(target string, token []byte) ([]byte, bool, error) {
	return g.InitSecContextWithOptions(target, token, nil)
}

// InitSecContextWithOptions is InitSecContext; the AP options go-ldap
// passes (gokrb5's) have no gosspi counterpart: mutual authentication is
// always asked for.
func (g *GSSAPIClient) InitSecContextWithOptions(target string, token []byte, options []int) ([]byte, bool, error) {
	if g.c == nil {
		cfg := g.cfg
		if cfg.Context.Target == "" {
			cfg.Context.Target = target
		}
		c, err := sasl.NewClient(g.ctx, g.h, cfg)
		if err != nil {
			return nil, false, err
		}
		g.c = c
		out, err := c.Start(g.ctx)
		return out, err == nil && !c.Context().Established(), err
	}
	out, err := g.c.Next(g.ctx, token)
	return out, err == nil && !g.c.Context().Established(), err
}

// NegotiateSaslAuth answers the server's wrapped offer with the client's
// choice of layer and authzid (RFC 4752 3.1), and arms the Conn to start
// the layer when the bind succeeds.
func (g *GSSAPIClient) NegotiateSaslAuth(token []byte, authzid string) ([]byte, error) {
	if g.c == nil {
		return nil, errors.New("ldapsasl: NegotiateSaslAuth before InitSecContext")
	}
	g.c.SetAuthzID(authzid)
	out, err := g.c.Next(g.ctx, token)
	if err != nil {
		return nil, err
	}
	// The choice is made: what the server answers decides (Conn reads it).
	sec, err := g.c.Finish(g.ctx, nil)
	if err != nil {
		return nil, err
	}
	if sec.Layer() == sasl.LayerNone {
		sec.Close() // nothing left to protect
		return out, nil
	}
	g.sec = sec
	g.conn.arm(sec)
	return out, nil
}

// Security returns the layer the bind negotiated (nil for none).
func (g *GSSAPIClient) Security() *sasl.Security { return g.sec }

// DeleteSecContext ends the client: the context is deleted unless a layer
// now carries the connection (then the Conn deletes it when closed).
func (g *GSSAPIClient) DeleteSecContext() error {
	if g.c == nil {
		return nil
	}
	// After NegotiateSaslAuth the context belongs to the layer: the Conn
	// deletes it when closed, or when the BindResponse was a failure.
	return g.c.Close()
}
