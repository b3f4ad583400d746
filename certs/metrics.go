package certs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"prepuller.dev/prepuller/pkg/promutil"
)

// expiryMetric is the name the chart's certificate alert uses.
const expiryMetric = "prepuller_webhook_certificate_expiry_timestamp_seconds"

var expiryDesc = prometheus.NewDesc(expiryMetric,
	"Unix time at which the webhook's serving certificate (tls.crt in the certificate directory) expires; absent while there is no readable certificate.",
	nil, nil)

// expiryCollector reads the certificate at scrape time rather than when
// prepuller loads it: in cert-manager and files modes someone else rotates
// the file, and the series must follow what the webhook server serves
// (controller-runtime's certificate watcher reloads the same file).
type expiryCollector struct {
	dir string
}

// registerExpiry adds the certificate expiry series to reg.
func registerExpiry(reg prometheus.Registerer, dir string) error {
	if _, err := promutil.Register(reg, prometheus.Collector(&expiryCollector{dir: dir})); err != nil {
		return fmt.Errorf("registering certificate metric: %w", err)
	}
	return nil
}

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	notAfter, err := certNotAfter(filepath.Join(c.dir, CertFile))
	if err != nil {
		// No series rather than a made-up value: the alert on the
		// series' absence says the same, and readiness already fails
		// without a key pair.
		return
	}
	ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, notAfter)
}

// certNotAfter returns the NotAfter, in Unix seconds, of the first
// certificate in the PEM file (the leaf, by convention).
func certNotAfter(path string) (float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return 0, fmt.Errorf("%s: no certificate", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		return float64(leaf.NotAfter.Unix()), nil
	}
}
