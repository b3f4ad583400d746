package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File and Secret keys, the ones controller-runtime's webhook server,
// cert-manager and kubernetes.io/tls Secrets use.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
)

// checkKeyPair parses a PEM key pair and checks that the certificate is
// valid at the given time. It returns the leaf certificate.
func checkKeyPair(certPEM, keyPEM []byte, at time.Time) (*x509.Certificate, error) {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, errors.New("certificate or key is empty")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing key pair: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	if at.Before(leaf.NotBefore) || !at.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("certificate is valid from %s to %s, not at %s",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return leaf, nil
}

// verifyServing checks that a key pair is a serving certificate for dnsName
// signed by one of the CAs in caPEM, valid at the given time.
func verifyServing(caPEM, certPEM, keyPEM []byte, dnsName string, at time.Time) error {
	leaf, err := checkKeyPair(certPEM, keyPEM, at)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate found")
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		DNSName:     dnsName,
		Roots:       roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("verifying certificate for %s: %w", dnsName, err)
	}
	return nil
}

// readKeyPair reads tls.crt and tls.key from dir.
func readKeyPair(dir string) (certPEM, keyPEM []byte, err error) {
	certPEM, err = os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// writeKeyPair writes tls.key and tls.crt into dir unless they already hold
// these bytes. It reports whether it wrote anything. Each file is replaced
// by a rename so that a reader never sees half a file; the webhook server's
// certificate watcher ignores the moment the key and the certificate do not
// match and keeps serving the previous pair.
func writeKeyPair(dir string, certPEM, keyPEM []byte) (bool, error) {
	oldCert, oldKey, err := readKeyPair(dir)
	if err == nil && bytes.Equal(oldCert, certPEM) && bytes.Equal(oldKey, keyPEM) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating certificate directory: %w", err)
	}
	if err := writeFileAtomic(dir, KeyFile, keyPEM); err != nil {
		return false, err
	}
	if err := writeFileAtomic(dir, CertFile, certPEM); err != nil {
		return false, err
	}
	return true, nil
}

func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// placeholderKeyPair makes a throwaway self-signed key pair. controller-
// runtime's webhook server refuses to start without a loadable key pair, and
// it starts before any cache, so before the rotator can read the Secret.
// Nobody trusts this certificate: the API server fails (open) to call a
// replica serving it, and readiness stays false until the real one is in
// place, so the Service sends no traffic to it.
func placeholderKeyPair(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating placeholder key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("generating placeholder serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "prepuller placeholder (not trusted)"},
		DNSNames:     []string{"placeholder.prepuller.invalid"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating placeholder certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding placeholder key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// ensureLoadable puts a placeholder key pair in dir unless it already holds
// one that parses (expired or not: the real one replaces it soon either way).
func ensureLoadable(dir string, now time.Time) error {
	if c, k, err := readKeyPair(dir); err == nil {
		if _, err := tls.X509KeyPair(c, k); err == nil {
			return nil
		}
	}
	certPEM, keyPEM, err := placeholderKeyPair(now)
	if err != nil {
		return err
	}
	if _, err := writeKeyPair(dir, certPEM, keyPEM); err != nil {
		return fmt.Errorf("writing placeholder key pair: %w", err)
	}
	return nil
}
