//go:build !go1.27

package httpauth

import "crypto/tls"

// localLeaf is nil before Go 1.27, whose ConnectionState lacks
// LocalCertificate: the certificate is then the one the connection's
// GetCertificate hook recorded (see WrapTLSConfig).
func localLeaf(*tls.ConnectionState) []byte { return nil }

// haveLocalCertificate says whether localLeaf can see the certificate.
const haveLocalCertificate = false
