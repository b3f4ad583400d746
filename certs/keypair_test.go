package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA issues certificates for unit tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, now time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, dnsName string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func TestVerifyServing(t *testing.T) {
	now := time.Now()
	ca, other := newTestCA(t, now), newTestCA(t, now)
	const name = "prepuller-webhook.prepuller.svc"
	good, goodKey := ca.issue(t, name, now.Add(-time.Minute), now.Add(time.Hour))
	_, otherKey := ca.issue(t, name, now.Add(-time.Minute), now.Add(time.Hour))
	expired, expiredKey := ca.issue(t, name, now.Add(-2*time.Hour), now.Add(-time.Hour))
	wrongName, wrongNameKey := ca.issue(t, "elsewhere.svc", now.Add(-time.Minute), now.Add(time.Hour))
	foreign, foreignKey := other.issue(t, name, now.Add(-time.Minute), now.Add(time.Hour))
	cases := map[string]struct {
		ca, cert, key []byte
		wantErr       bool
	}{
		"valid":             {ca: ca.pem, cert: good, key: goodKey},
		"valid in a bundle": {ca: append(append([]byte{}, other.pem...), ca.pem...), cert: good, key: goodKey},
		"key of another":    {ca: ca.pem, cert: good, key: otherKey, wantErr: true},
		"expired":           {ca: ca.pem, cert: expired, key: expiredKey, wantErr: true},
		"wrong name":        {ca: ca.pem, cert: wrongName, key: wrongNameKey, wantErr: true},
		"other CA":          {ca: ca.pem, cert: foreign, key: foreignKey, wantErr: true},
		"no CA":             {ca: nil, cert: good, key: goodKey, wantErr: true},
		"garbage":           {ca: ca.pem, cert: []byte("not pem"), key: goodKey, wantErr: true},
		"empty":             {ca: ca.pem, wantErr: true},
	}
	for n, tc := range cases {
		t.Run(n, func(t *testing.T) {
			err := verifyServing(tc.ca, tc.cert, tc.key, name, now)
			if (err != nil) != tc.wantErr {
				t.Errorf("verifyServing() error = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestWriteKeyPairAndPlaceholder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Now()
	if err := ensureLoadable(dir, now); err != nil {
		t.Fatalf("ensureLoadable on an empty directory: %v", err)
	}
	placeholder, _, err := readKeyPair(dir)
	if err != nil {
		t.Fatalf("placeholder not written: %v", err)
	}
	// A loadable pair stays.
	if err := ensureLoadable(dir, now); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := readKeyPair(dir); string(again) != string(placeholder) {
		t.Error("ensureLoadable replaced a loadable key pair")
	}
	ca := newTestCA(t, now)
	crt, key := ca.issue(t, "x.svc", now.Add(-time.Minute), now.Add(time.Hour))
	if wrote, err := writeKeyPair(dir, crt, key); err != nil || !wrote {
		t.Fatalf("writeKeyPair() = %v, %v; want true, nil", wrote, err)
	}
	if wrote, err := writeKeyPair(dir, crt, key); err != nil || wrote {
		t.Fatalf("writeKeyPair() of the same pair = %v, %v; want false, nil", wrote, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want tls.crt and tls.key only (no temporary files)", len(entries))
	}
	if err := verifyServing(ca.pem, mustRead(t, dir, CertFile), mustRead(t, dir, KeyFile), "x.svc", now); err != nil {
		t.Errorf("written pair does not verify: %v", err)
	}
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileWaiter(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca := newTestCA(t, now)
	expired, expiredKey := ca.issue(t, "x.svc", now.Add(-2*time.Hour), now.Add(-time.Hour))
	if _, err := writeKeyPair(dir, expired, expiredKey); err != nil {
		t.Fatal(err)
	}
	w := &fileWaiter{dir: dir, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()

	select {
	case <-w.ready:
		t.Fatal("ready closed for an expired certificate")
	case <-time.After(3 * filePollInterval):
	}
	crt, key := ca.issue(t, "x.svc", now.Add(-time.Minute), now.Add(time.Hour))
	if _, err := writeKeyPair(dir, crt, key); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("ready not closed after a valid key pair was written")
	}
	if err := <-done; err != nil {
		t.Errorf("Start() = %v", err)
	}
}
