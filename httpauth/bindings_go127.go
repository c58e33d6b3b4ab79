//go:build go1.27

package httpauth

import "crypto/tls"

// localLeaf returns the certificate the server presented in a full
// handshake (ConnectionState.LocalCertificate, Go 1.27), or nil.
func localLeaf(st *tls.ConnectionState) []byte {
	if st == nil || len(st.LocalCertificate) == 0 {
		return nil
	}
	return st.LocalCertificate[0]
}

// haveLocalCertificate says whether localLeaf can see the certificate.
const haveLocalCertificate = true
