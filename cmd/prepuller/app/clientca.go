package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// clientCATLSOption makes the webhook server accept only clients that
// present a certificate signed by a CA in caFile: the API server, when its
// AdmissionConfiguration gives it a client certificate for prepuller
// (docs/security.md). Without it anyone who reaches the port may post
// AdmissionReviews.
//
// Not wired to the configuration yet: NewManager would append it to the
// webhook server's TLSOpts when webhook.clientCAFile is set. The file is
// read once; a new CA takes a restart, like the API server's own kubeconfig.
func clientCATLSOption(caFile string) (func(*tls.Config), error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("webhook client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("webhook client CA: " + caFile + " holds no PEM certificate")
	}
	return func(c *tls.Config) {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}, nil
}
