package sshauth

import (
	"testing"
)

// FuzzServer feeds any client token, then any MIC, to a Server (the
// acceptor of the host/localhost keytab), seeded with a real AP-REQ and
// MIC of our Client and those MIT's ssh sent (testdata): an error or a login, never a panic, and never a
// Peer without a verified MIC.
func FuzzServer(f *testing.F) {
	acc, err := NewAcceptor(f.Context(), newHost(f, realm.goKT), "")
	if err != nil {
		f.Fatal(err)
	}
	defer acc.Close()
	c := &Client{Host: newHost(f, ""), Identity: ccacheIdentity(realm.userCC)}
	tok, _, err := c.InitSecContext("host@localhost", nil, false)
	if err != nil {
		f.Fatal(err)
	}
	s := acc.NewServer()
	rep, _, _, err := s.AcceptSecContext(tok)
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := c.InitSecContext("host@localhost", rep, false); err != nil {
		f.Fatal(err)
	}
	field := buildMICField([]byte("session"), realm.account)
	mic, err := c.GetMIC(field)
	if err != nil {
		f.Fatal(err)
	}
	s.DeleteSecContext()
	c.DeleteSecContext()
	f.Add(tok, mic)
	mit := loadTranscript(f)
	f.Add(mit.Tokens[0], mit.MIC)
	f.Add(tok[:len(tok)/2], mic[:len(mic)/2])
	f.Add([]byte{0x60, 0x80}, []byte{0x04, 0x04})
	f.Fuzz(func(t *testing.T, token, micToken []byte) {
		s := acc.NewServer()
		defer s.DeleteSecContext()
		_, _, more, err := s.AcceptSecContext(token)
		if err != nil || more {
			if _, ok := s.Peer(); ok {
				t.Fatal("a Peer without an established context")
			}
			return
		}
		if err := s.VerifyMIC(field, micToken); err != nil {
			if _, ok := s.Peer(); ok {
				t.Fatal("a Peer without a verified MIC")
			}
		}
	})
}
