package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// clientCATLSOption makes the webhook server accept only clients that
// present a certificate signed by a CA in caFile: the API server, when its
// AdmissionConfiguration gives it a client certificate for prepuller
// (docs/security.md). Without it anyone who reaches the port may post
// AdmissionReviews.
//
// New adds it to the webhook server's TLSOpts when webhook.clientCAFile is
// set. The file is read once; a new CA takes a restart, like the API
// server's own kubeconfig.
func clientCATLSOption(caFile string) (func(*tls.Config), error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err // names the file
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return func(c *tls.Config) {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}, nil
}
