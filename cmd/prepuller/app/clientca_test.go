package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/test/pki"
)

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
	servingCA, apiserverCA, otherCA := pki.NewCA(t, "serving"), pki.NewCA(t, "apiserver-clients"), pki.NewCA(t, "other")
	crt, key := servingCA.Issue(t, x509.ExtKeyUsageServerAuth, 2)
	caFile := filepath.Join(dir, "client-ca.crt")
	for name, data := range map[string][]byte{"tls.crt": crt, "tls.key": key, "client-ca.crt": apiserverCA.PEM} {
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
	roots.AppendCertsFromPEM(servingCA.PEM)
	get := func(clientCert []tls.Certificate) error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: clientCert}}}
		resp, err := c.Get("https://127.0.0.1:" + strconv.Itoa(port) + "/ok")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	pair := func(ca *pki.CA, serial int64) []tls.Certificate {
		c, k := ca.Issue(t, x509.ExtKeyUsageClientAuth, serial)
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
