package sasl

import (
	"context"

	"github.com/gosspi/gosspi"
)

// ServerConfig configures a SASL server.
type ServerConfig struct {
	// Mechanism is GSSAPI (the default) or GSS-SPNEGO.
	Mechanism string
	// Context configures the security context; its Package defaults to
	// "Kerberos" for GSSAPI and "Negotiate" for GSS-SPNEGO.
	Context gosspi.ServerConfig
	// Layers are the layers the server offers (GSSAPI) or accepts
	// (GSS-SPNEGO, where the client's context flags choose); zero means
	// AllLayers. Leave LayerNone out to require signing or sealing.
	Layers Layer
	// MaxBuffer is the largest wrapped token the server accepts (GSSAPI
	// advertises it); zero means DefaultMaxBuffer for GSSAPI and the
	// three-octet limit for GSS-SPNEGO. It must be at least 256.
	MaxBuffer uint32
	// Authorize decides whether the authenticated peer may act as authzID
	// (which the GSSAPI client may send; "" means as itself). Nil allows
	// only "".
	Authorize func(peer gosspi.PeerIdentity, authzID string) error
}

type serverState int

const (
	serverContext serverState = iota // the context is being established
	serverEmpty                      // GSSAPI: the last context token was sent; expect no data
	serverChoice                     // GSSAPI: the offer was sent; expect the choice
	serverFinished
)

// Server is the server side of a SASL exchange: Next takes each response
// of the client and returns the next challenge, until it reports done;
// Security then returns the negotiated layer.
type Server struct {
	mech    string
	sc      *gosspi.SecurityContext
	layers  Layer
	maxRecv uint32
	authz   func(gosspi.PeerIdentity, string) error

	state   serverState
	offer   negotiation
	sec     *Security
	authzID string
}

// NewServer returns a server for cfg's mechanism, with its security
// context made in h.
func NewServer(ctx context.Context, h *gosspi.Host, cfg ServerConfig) (*Server, error) {
	s := &Server{authz: cfg.Authorize}
	sc := cfg.Context
	var err error
	if s.mech, s.layers, s.maxRecv, err = settle(cfg.Mechanism, cfg.Layers, cfg.MaxBuffer, &sc.Package, &sc.Flags); err != nil {
		return nil, err
	}
	ctxt, err := h.NewServer(ctx, sc)
	if err != nil {
		return nil, err
	}
	s.sc = ctxt
	return s, nil
}

// Mechanism returns the mechanism's name.
func (s *Server) Mechanism() string { return s.mech }

// Context returns the security context.
func (s *Server) Context() *gosspi.SecurityContext { return s.sc }

// Next takes the client's response (nil when the client sent no initial
// response) and returns the challenge to send. When done is true the
// exchange succeeded: challenge is then the additional data to send with
// the success (GSS-SPNEGO's last context token), and Security returns the
// layer. An error ends the exchange.
func (s *Server) Next(ctx context.Context, response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case serverContext:
		challenge, done, err = s.stepContext(ctx, response)
	case serverEmpty:
		if len(response) != 0 {
			err = &NegotiationError{Reason: "the client answered the last context token with data"}
			break
		}
		challenge, err = s.sendOffer()
	case serverChoice:
		err = s.readChoice(response)
		done = err == nil
	default:
		return nil, false, ErrDone
	}
	if err != nil {
		s.state = serverFinished
		return nil, false, err
	}
	return challenge, done, nil
}

// stepContext runs one step of the context (RFC 4752 3.2, first part).
func (s *Server) stepContext(ctx context.Context, in []byte) ([]byte, bool, error) {
	if in == nil {
		return []byte{}, false, nil // no initial response: an empty challenge asks for it
	}
	out, done, err := s.sc.Step(ctx, in)
	if err != nil {
		return nil, false, err
	}
	if !done {
		return out, false, nil
	}
	f := s.sc.Flags()
	if s.mech == GSSSPNEGO {
		layer := spnegoLayer(f)
		if s.layers&layer == 0 {
			return nil, false, &NegotiationError{Reason: "the client's context gives " + layer.String() + ", the server accepts " + s.layers.String()}
		}
		if err := s.authorize(""); err != nil {
			return nil, false, err
		}
		s.finish(layer, defaultSPNEGOMaxBuffer)
		return out, true, nil
	}
	if f&gosspi.FlagIntegrity == 0 {
		return nil, false, &NegotiationError{Reason: "the context has no integrity to protect the layer negotiation"}
	}
	if len(out) > 0 {
		// "If an output_token is returned, the server returns it to the
		// client in a challenge and expects a reply from the client with
		// no data" (RFC 4752 3.2).
		s.state = serverEmpty
		return out, false, nil
	}
	tok, err := s.sendOffer()
	return tok, false, err
}

// sendOffer wraps the server's offer: its layers and maximum buffer.
func (s *Server) sendOffer() ([]byte, error) {
	s.offer = negotiation{layers: s.layers, maxBuffer: s.maxRecv}
	if s.layers == LayerNone {
		s.offer.maxBuffer = 0
	}
	tok, err := s.sc.WrapIntegrity(s.offer.marshal())
	if err != nil {
		return nil, &LayerError{Op: "wrap", Err: err}
	}
	s.state = serverChoice
	return tok, nil
}

// readChoice checks the client's choice (RFC 4752 3.2, last part).
func (s *Server) readChoice(tok []byte) error {
	plain, err := s.sc.Unwrap(tok)
	if err != nil {
		return &LayerError{Op: "unwrap", Err: err}
	}
	choice, err := parseChoice(plain)
	if err != nil {
		return err
	}
	if choice.layers&s.offer.layers == 0 {
		return &NegotiationError{Reason: "the client chose " + choice.layers.String() + ", which was not offered"}
	}
	if choice.layers != LayerNone && choice.maxBuffer < minMaxBuffer {
		return &NegotiationError{Reason: "the client's maximum buffer is too small for a wrapped buffer"}
	}
	if err := s.authorize(choice.authzID); err != nil {
		return err
	}
	s.authzID = choice.authzID
	s.finish(choice.layers, choice.maxBuffer)
	return nil
}

func (s *Server) authorize(authzID string) error {
	if s.authz == nil {
		if authzID != "" {
			return &NegotiationError{Reason: "authorization identity refused"}
		}
		return nil
	}
	id, err := s.sc.Identity()
	if err != nil {
		return err
	}
	return s.authz(id, authzID)
}

func (s *Server) finish(layer Layer, peerMax uint32) {
	s.state = serverFinished
	if s.mech == GSSSPNEGO {
		peerMax = DefaultMaxBuffer
	}
	s.sec = newSecurity(s.sc, layer, peerMax, s.maxRecv)
}

// Security returns the negotiated layer once Next reported done (nil
// before), which owns the context from then on.
func (s *Server) Security() *Security { return s.sec }

// AuthzID returns the authorization identity the client asked for ("" for
// its own).
func (s *Server) AuthzID() string { return s.authzID }

// Close deletes the context of a server whose exchange did not end in a
// Security. It is safe to call more than once.
func (s *Server) Close() error {
	if s.sec != nil {
		return nil
	}
	return s.sc.Close()
}
