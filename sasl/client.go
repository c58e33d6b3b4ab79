package sasl

import (
	"context"
	"strings"

	"github.com/gosspi/gosspi"
)

// The mechanism names (RFC 4752; the IANA SASL registry).
const (
	GSSAPI    = "GSSAPI"
	GSSSPNEGO = "GSS-SPNEGO"
)

// ClientConfig configures a SASL client.
type ClientConfig struct {
	// Mechanism is GSSAPI (the default) or GSS-SPNEGO.
	Mechanism string
	// Context configures the security context. Its Package defaults to
	// "Kerberos" for GSSAPI and "Negotiate" for GSS-SPNEGO; its Target is
	// the service ("ldap/dc1.example.com"); its Flags, when zero, are
	// derived from Layers (mutual authentication, and integrity and
	// confidentiality as the layers need them).
	Context gosspi.ClientConfig
	// Layers are the layers the client accepts; zero means AllLayers. The
	// client takes the strongest the server offers (GSSAPI); GSS-SPNEGO
	// asks the context for the strongest of them.
	Layers Layer
	// MaxBuffer is the largest wrapped token the client accepts (GSSAPI
	// advertises it); zero means DefaultMaxBuffer for GSSAPI and the
	// three-octet limit for GSS-SPNEGO. It must be at least 256.
	MaxBuffer uint32
	// AuthzID is the authorization identity to act as (GSSAPI), or "" to
	// act as the authenticated identity.
	AuthzID string
}

type clientState int

const (
	clientContext  clientState = iota // the context is being established
	clientOffer                       // GSSAPI: waiting for the server's offer
	clientDone                        // the last response was produced
	clientFinished                    // Finish was called, or a step failed
)

// Client is the client side of a SASL exchange. Start gives the initial
// response; Next answers each challenge; Finish takes the server's
// additional data with success and returns the security layer.
type Client struct {
	mech    string
	sc      *gosspi.SecurityContext
	layers  Layer
	maxRecv uint32
	authzID string

	state  clientState
	layer  Layer
	peerMx uint32
	handed bool // Finish gave the context to a Security
}

// NewClient returns a client for cfg's mechanism, with its security
// context made in h.
func NewClient(ctx context.Context, h *gosspi.Host, cfg ClientConfig) (*Client, error) {
	c := &Client{authzID: cfg.AuthzID}
	cc := cfg.Context
	var err error
	if c.mech, c.layers, c.maxRecv, err = settle(cfg.Mechanism, cfg.Layers, cfg.MaxBuffer, &cc.Package, &cc.Flags); err != nil {
		return nil, err
	}
	sc, err := h.NewClient(ctx, cc)
	if err != nil {
		return nil, err
	}
	c.sc = sc
	return c, nil
}

// settle fills in a config's defaults (the mechanism, AllLayers, the
// mechanism's package, maximum buffer and context flags) and checks it.
func settle(mech string, layers Layer, maxBuf uint32, pkg *string, flags *gosspi.Flags) (string, Layer, uint32, error) {
	if mech == "" {
		mech = GSSAPI
	}
	if layers == 0 {
		layers = AllLayers
	}
	if layers&^AllLayers != 0 {
		return "", 0, 0, &NegotiationError{Reason: "unknown security layer in the config's Layers"}
	}
	def, defMax := "Kerberos", uint32(DefaultMaxBuffer)
	switch mech {
	case GSSAPI:
	case GSSSPNEGO:
		def, defMax = "Negotiate", defaultSPNEGOMaxBuffer
	default:
		return "", 0, 0, &NegotiationError{Reason: "unknown mechanism " + mech}
	}
	if *pkg == "" {
		*pkg = def
	}
	if maxBuf == 0 {
		maxBuf = defMax
	}
	if maxBuf > MaxBufferLimit || maxBuf < minMaxBuffer {
		return "", 0, 0, &NegotiationError{Reason: "MaxBuffer is not between 256 and 2^24-1"}
	}
	if *flags == 0 {
		*flags = flagsFor(mech, layers)
	}
	return mech, layers, maxBuf, nil
}

// flagsFor returns the context flags a mechanism needs for layers: GSSAPI
// always wraps its negotiation, so it needs integrity; GSS-SPNEGO asks for
// the strongest layer, since the context's flags are the layer.
//
// GSS-SPNEGO's integrity is sealing, as Active Directory runs it: a DC
// treats an NTLM session that negotiated signing as sealed (what Samba
// calls the LDAP style: NTLMSSP_NEGOTIATE_SIGN handled as
// NTLMSSP_NEGOTIATE_SEAL) and expects sealed buffers, and a Kerberos
// initiator always puts GSS_C_CONF_FLAG in its authenticator, so the
// acceptor seals. Asking for confidentiality whenever integrity is wanted
// makes both packages negotiate what the server will apply.
func flagsFor(mech string, layers Layer) gosspi.Flags {
	f := gosspi.FlagMutualAuth
	want := layers.strongest()
	if mech == GSSAPI {
		f |= gosspi.FlagIntegrity
	}
	if want >= LayerIntegrity {
		f |= gosspi.FlagIntegrity | gosspi.FlagReplayDetect | gosspi.FlagSequenceDetect
	}
	if want == LayerConfidentiality || (mech == GSSSPNEGO && want == LayerIntegrity) {
		f |= gosspi.FlagConfidentiality
	}
	return f
}

// SetAuthzID sets the authorization identity the GSSAPI choice carries
// (ClientConfig.AuthzID), before the server's offer is answered.
func (c *Client) SetAuthzID(id string) { c.authzID = id }

// Mechanism returns the mechanism's name, for the protocol's
// authentication request.
func (c *Client) Mechanism() string { return c.mech }

// Context returns the security context.
func (c *Client) Context() *gosspi.SecurityContext { return c.sc }

// Start returns the initial response (the first context token).
func (c *Client) Start(ctx context.Context) ([]byte, error) {
	if c.state != clientContext || c.sc.Established() {
		return nil, ErrDone
	}
	return c.Next(ctx, nil)
}

// Next returns the response to a challenge of the server.
func (c *Client) Next(ctx context.Context, challenge []byte) ([]byte, error) {
	switch c.state {
	case clientContext:
		return c.stepContext(ctx, challenge)
	case clientOffer:
		return c.negotiate(challenge, c.authzID)
	default:
		c.state = clientFinished
		return nil, &NegotiationError{Reason: "a challenge after the exchange's last response"}
	}
}

// stepContext runs one step of the context (RFC 4752 3.1, first part).
func (c *Client) stepContext(ctx context.Context, in []byte) ([]byte, error) {
	out, done, err := c.sc.Step(ctx, in)
	if err != nil {
		c.state = clientFinished
		return nil, err
	}
	if !done {
		return out, nil
	}
	if err := c.checkContext(); err != nil {
		c.state = clientFinished
		return nil, err
	}
	if c.mech == GSSAPI {
		// "If the last call to GSS_Init_sec_context returned an
		// output_token, then the client responds with the output_token,
		// otherwise the client responds with no data" (RFC 4752 3.1).
		c.state = clientOffer
		if out == nil {
			out = []byte{}
		}
		return out, nil
	}
	c.state = clientDone
	c.layer = c.contextLayer()
	return out, nil
}

// checkContext checks that the established context gives the protection
// the client's layers need.
func (c *Client) checkContext() error {
	f := c.sc.Flags()
	if c.mech == GSSAPI && f&gosspi.FlagIntegrity == 0 {
		return &NegotiationError{Reason: "the context has no integrity to protect the layer negotiation"}
	}
	// GSS-SPNEGO: a client that accepts integrity gets sealing when the
	// context seals (see flagsFor); one that wants no layer at all cannot
	// have one it does not apply.
	if l := c.contextLayer(); c.mech == GSSSPNEGO && c.layers&l == 0 && !(c.layers&LayerIntegrity != 0 && l == LayerConfidentiality) {
		return &NegotiationError{Reason: "the context's protection (" + l.String() + ") is not among the acceptable layers (" + c.layers.String() + ")"}
	}
	return nil
}

// contextLayer is GSS-SPNEGO's layer as the acceptor sees it, which
// decides: the one its context's flags give. gosspi's Kerberos initiator,
// like MIT's, always puts GSS_C_CONF_FLAG in the authenticator's checksum
// (RFC 4121 4.1.1), so a Kerberos context that signs also seals there;
// gosspi's NTLM client always negotiates NTLMSSP_NEGOTIATE_SIGN, so an
// NTLM context at least signs.
func (c *Client) contextLayer() Layer {
	l := spnegoLayer(c.sc.Flags())
	if l == LayerIntegrity && c.sc.Package() == "Kerberos" {
		l = LayerConfidentiality
	}
	return l
}

// spnegoLayer is GSS-SPNEGO's layer: the one the context's flags give.
func spnegoLayer(f gosspi.Flags) Layer {
	switch {
	case f&gosspi.FlagConfidentiality != 0:
		return LayerConfidentiality
	case f&gosspi.FlagIntegrity != 0:
		return LayerIntegrity
	}
	return LayerNone
}

// negotiate answers the server's wrapped offer with the client's choice
// (RFC 4752 3.1, last part).
func (c *Client) negotiate(challenge []byte, authzID string) ([]byte, error) {
	c.state = clientFinished
	plain, err := c.sc.Unwrap(challenge)
	if err != nil {
		return nil, &LayerError{Op: "unwrap", Err: err}
	}
	offer, err := parseOffer(plain)
	if err != nil {
		return nil, err
	}
	choice := (offer.layers & c.layers).strongest()
	if choice == 0 {
		return nil, &NegotiationError{Reason: "no common security layer: the server offers " + offer.layers.String() + ", the client accepts " + c.layers.String()}
	}
	if choice != LayerNone && offer.maxBuffer < minMaxBuffer {
		return nil, &NegotiationError{Reason: "the server's maximum buffer is too small for a wrapped buffer"}
	}
	if strings.IndexByte(authzID, 0) >= 0 {
		return nil, &NegotiationError{Reason: "the authorization identity holds a NUL"}
	}
	max := c.maxRecv
	if choice == LayerNone {
		max = 0
	}
	// "The client passes the data to GSS_Wrap with conf_flag set to FALSE."
	tok, err := c.sc.WrapIntegrity(negotiation{layers: choice, maxBuffer: max, authzID: authzID}.marshal())
	if err != nil {
		return nil, &LayerError{Op: "wrap", Err: err}
	}
	c.layer, c.peerMx, c.state = choice, offer.maxBuffer, clientDone
	return tok, nil
}

// Finish is called when the server reports success, with its additional
// data (the last context token of GSS-SPNEGO, often), and returns the
// security layer, which owns the context from then on. It fails when the
// exchange is not complete on the client's side: the server may not
// declare success before it proved itself.
func (c *Client) Finish(ctx context.Context, additional []byte) (*Security, error) {
	if c.state == clientContext && len(additional) > 0 {
		out, err := c.stepContext(ctx, additional)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			c.state = clientFinished
			return nil, &NegotiationError{Reason: "the server reported success while the context still had a token to send"}
		}
	} else if len(additional) > 0 {
		c.state = clientFinished
		return nil, &NegotiationError{Reason: "additional data with success after the last response"}
	}
	if c.state != clientDone {
		c.state = clientFinished
		return nil, &NegotiationError{Reason: "the server reported success before the exchange was complete"}
	}
	c.state, c.handed = clientFinished, true
	sendMax := c.peerMx
	if c.mech == GSSSPNEGO {
		sendMax = DefaultMaxBuffer
	}
	return newSecurity(c.sc, c.layer, sendMax, c.maxRecv), nil
}

// Close deletes the context of a client whose exchange did not end in a
// Security. It is safe to call more than once.
func (c *Client) Close() error {
	if c.handed {
		return nil // the Security owns the context
	}
	return c.sc.Close()
}
