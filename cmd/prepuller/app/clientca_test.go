package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key signed by ca.
func (ca *testCA) issue(t *testing.T, usage x509.ExtKeyUsage, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestClientCATLSOption runs controller-runtime's webhook server with the
// option: only a client certificate from the configured CA gets through,
// and the server's own readiness check (which dials the port without one)
// still passes.
func TestClientCATLSOption(t *testing.T) {
	dir := t.TempDir()
	servingCA, apiserverCA, otherCA := newTestCA(t, "serving"), newTestCA(t, "apiserver-clients"), newTestCA(t, "other")
	crt, key := servingCA.issue(t, x509.ExtKeyUsageServerAuth, 2)
	caFile := filepath.Join(dir, "client-ca.crt")
	for name, data := range map[string][]byte{"tls.crt": crt, "tls.key": key, "client-ca.crt": apiserverCA.pem} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opt, err := clientCATLSOption(caFile)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir, TLSOpts: []func(*tls.Config){opt}})
	srv.Register("/ok", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCA.pem)
	get := func(clientCert []tls.Certificate) error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: clientCert}}}
		resp, err := c.Get("https://127.0.0.1:" + strconv.Itoa(port) + "/ok")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	pair := func(ca *testCA, serial int64) []tls.Certificate {
		c, k := ca.issue(t, x509.ExtKeyUsageClientAuth, serial)
		kp, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{kp}
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.StartedChecker()(nil) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("webhook server not started: %v", srv.StartedChecker()(nil))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := get(pair(apiserverCA, 3)); err != nil {
		t.Errorf("client certificate from the configured CA: %v", err)
	}
	if err := get(nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("no client certificate: %v, want a TLS refusal", err)
	}
	if err := get(pair(otherCA, 4)); err == nil {
		t.Error("client certificate from another CA was accepted")
	}
}

func TestClientCATLSOptionBadFile(t *testing.T) {
	if _, err := clientCATLSOption(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty.crt")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := clientCATLSOption(empty); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("file without a certificate: %v", err)
	}
}
