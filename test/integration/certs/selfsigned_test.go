package certs_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/certs"
)

const admissionNamespace = "admission-test"

// TestSelfSigned runs two replicas as prepuller's ServiceAccount (with the
// install's RBAC and empty Secret) against a real API server, registers a
// webhook per replica with failurePolicy Fail so any TLS problem fails an
// admission, and checks: the Secret is filled, the caBundle equals the CA,
// both replicas serve the Secret's certificate and the API server accepts
// it for real admissions; then a nearly expired certificate is put in the
// Secret and is rotated with no failed admission.
func TestSelfSigned(t *testing.T) {
	cfg := startControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	installFiles(ctx, t, admin,
		"manifests/base/namespace.yaml",
		"manifests/base/serviceaccount.yaml",
		"manifests/overlays/self-signed/secret.yaml",
		"manifests/overlays/self-signed/rbac-certs.yaml",
	)
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: admissionNamespace}}); err != nil {
		t.Fatal(err)
	}

	opts := certs.DefaultOptions()
	// The API server dials the replicas at https://localhost:<port>.
	opts.DNSNames = []string{"localhost"}
	mgrCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	ctxB, stopB := context.WithCancel(mgrCtx)
	defer stopB()
	a := startReplica(mgrCtx, t, cfg, "a", opts)
	b := startReplica(ctxB, t, cfg, "b", opts)
	if err := admin.Create(ctx, webhookConfig(opts.WebhookConfigName, a, b)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, a, time.Minute)
	waitReady(t, b, time.Minute)

	// The Secret holds a CA and a serving certificate for the Service.
	secret := getSecret(ctx, t, admin, opts)
	caPEM := secret.Data["ca.crt"]
	if err := verify(caPEM, secret.Data["tls.crt"], opts.ServiceDNSName(namespace)); err != nil {
		t.Fatalf("Secret's serving certificate: %v", err)
	}
	// The caBundle of every webhook in the configuration is that CA.
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := admin.Get(ctx, client.ObjectKey{Name: opts.WebhookConfigName}, mwc); err != nil {
		t.Fatal(err)
	}
	for _, wh := range mwc.Webhooks {
		if !bytes.Equal(wh.ClientConfig.CABundle, caPEM) {
			t.Errorf("webhook %s caBundle differs from the Secret's ca.crt", wh.Name)
		}
	}
	// Both replicas serve from the Secret.
	for _, r := range []*replica{a, b} {
		waitFor(t, "replica "+r.name+" serving the Secret's certificate", 30*time.Second, func() error {
			return servesCert(r, caPEM, secret.Data["tls.crt"])
		})
	}
	// The expiry series says when the served certificate expires.
	waitFor(t, "the expiry series of the first certificate", 10*time.Second, func() error {
		return exportsExpiry(a, secret.Data["tls.crt"])
	})
	// The API server accepts them for a real admission (after it has seen
	// the new caBundle).
	var n atomic.Int64
	waitFor(t, "a first admission through both replicas", 30*time.Second, func() error {
		return admit(ctx, admin, fmt.Sprintf("first-%d", n.Add(1)))
	})

	// Rotation: put a serving certificate that expires in two minutes (well
	// inside renewBefore) in the Secret, with admissions running all along.
	load := startLoad(ctx, admin)
	time.Sleep(500 * time.Millisecond)
	nearlyExpired := injectNearlyExpired(ctx, t, admin, opts)
	var rotated []byte
	waitFor(t, "the nearly expired certificate rotated", time.Minute, func() error {
		s := getSecret(ctx, t, admin, opts)
		if bytes.Equal(s.Data["tls.crt"], nearlyExpired) {
			return fmt.Errorf("Secret still holds the nearly expired certificate")
		}
		leaf, err := parseCert(s.Data["tls.crt"])
		if err != nil {
			return err
		}
		if time.Until(leaf.NotAfter) < opts.RenewBefore.Duration {
			return fmt.Errorf("Secret's certificate expires at %s, inside renewBefore", leaf.NotAfter)
		}
		rotated = s.Data["tls.crt"]
		return nil
	})
	for _, r := range []*replica{a, b} {
		waitFor(t, "replica "+r.name+" serving the rotated certificate", 30*time.Second, func() error {
			return servesCert(r, caPEM, rotated)
		})
	}
	// It follows the rotation: it is read when scraped, not at start.
	waitFor(t, "the expiry series of the rotated certificate", 30*time.Second, func() error {
		return exportsExpiry(a, rotated)
	})
	time.Sleep(time.Second) // admissions after the switch, too
	ok, failures := load.stop()
	t.Logf("admissions during rotation: %d succeeded, %d failed", ok, len(failures))
	for _, f := range failures {
		t.Errorf("admission failed during rotation: %v", f)
	}
	if ok < 20 {
		t.Errorf("only %d admissions during rotation; the check proves little", ok)
	}
	if s := getSecret(ctx, t, admin, opts); !bytes.Equal(s.Data["ca.crt"], caPEM) {
		t.Error("the CA changed while only the serving certificate needed rotating")
	}

	// Control: with replica b gone, failurePolicy Fail makes admissions
	// fail, so the zero above is not for lack of a way to fail.
	stopB()
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatal("replica b did not stop")
	}
	if err := admit(ctx, admin, "after-b-stopped"); err == nil {
		t.Error("admission succeeded with a replica down and failurePolicy Fail; the check above cannot fail")
	}
}

// TestPlaceholderBeforeStart: before the manager starts, the certificate
// directory holds a placeholder the webhook server can load but nobody
// trusts, and ready stays open.
func TestPlaceholderBeforeStart(t *testing.T) {
	cfg := startControlPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // never start: only Setup's synchronous part runs
	opts := certs.DefaultOptions()
	r := startReplica(ctx, t, cfg, "p", opts)
	<-r.done
	select {
	case <-r.ready:
		t.Fatal("ready closed without a real certificate")
	default:
	}
	crt, err := os.ReadFile(filepath.Join(r.certDir, "tls.crt"))
	if err != nil {
		t.Fatalf("no placeholder certificate: %v", err)
	}
	leaf, err := parseCert(crt)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname(opts.ServiceDNSName(namespace)); err == nil {
		t.Error("the placeholder is valid for the Service name")
	}
}

func webhookConfig(name string, replicas ...*replica) *admissionregistrationv1.MutatingWebhookConfiguration {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, r := range replicas {
		mwc.Webhooks = append(mwc.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name:                    r.name + ".test.prepuller.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(r.url())},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail), // make every failure visible
			TimeoutSeconds:          ptr.To[int32](5),
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				"kubernetes.io/metadata.name": admissionNamespace,
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"},
				},
			}},
		})
	}
	return mwc
}

// admit creates a ConfigMap and checks both replicas mutated it.
func admit(ctx context.Context, c client.Client, name string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: admissionNamespace}}
	if err := c.Create(ctx, cm); err != nil {
		return err
	}
	for _, r := range []string{"a", "b"} {
		if cm.Labels[mutatedLabel+"-"+r] != "true" {
			return fmt.Errorf("ConfigMap %s was not mutated by replica %s: labels %v", name, r, cm.Labels)
		}
	}
	return nil
}

type load struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	ok       int
	failures []error
}

// startLoad creates ConfigMaps one after another until stopped (bounded to
// 5000 and by ctx).
func startLoad(ctx context.Context, c client.Client) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i := 0; i < 5000 && ctx.Err() == nil; i++ {
			if err := admit(ctx, c, fmt.Sprintf("load-%d", i)); err != nil {
				if ctx.Err() == nil {
					l.failures = append(l.failures, err)
				}
			} else {
				l.ok++
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) stop() (int, []error) {
	l.cancel()
	l.wg.Wait()
	return l.ok, l.failures
}

func getSecret(ctx context.Context, t *testing.T, c client.Client, opts certs.Options) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: opts.SecretName}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// injectNearlyExpired replaces the Secret's serving certificate with one
// signed by the same CA that expires in two minutes.
func injectNearlyExpired(ctx context.Context, t *testing.T, c client.Client, opts certs.Options) []byte {
	t.Helper()
	s := getSecret(ctx, t, c, opts)
	ca, err := parseCert(s.Data["ca.crt"])
	if err != nil {
		t.Fatal(err)
	}
	caKey := parseKey(t, s.Data["ca.key"])
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: opts.ServiceDNSName(namespace)},
		DNSNames:     []string{opts.ServiceDNSName(namespace), "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(2 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s.Data["tls.crt"] = crt
	s.Data["tls.key"] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := c.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	return crt
}

func parseCert(p []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(t *testing.T, p []byte) crypto.Signer {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("parsing CA key: %v", err)
	}
	return k.(crypto.Signer)
}

func verify(caPEM, certPEM []byte, dnsName string) error {
	leaf, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: dnsName, Roots: roots})
	return err
}

// servesCert checks the replica's TLS handshake, as the API server does it
// (localhost, trusting the CA), and that it presents want.
func servesCert(r *replica, caPEM, want []byte) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		return err
	}
	defer conn.Close()
	wantLeaf, err := parseCert(want)
	if err != nil {
		return err
	}
	if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(wantLeaf) {
		return fmt.Errorf("serves certificate %s (until %s), want %s", got.SerialNumber, got.NotAfter, wantLeaf.SerialNumber)
	}
	// The files say the same.
	onDisk, err := os.ReadFile(filepath.Join(r.certDir, "tls.crt"))
	if err != nil {
		return err
	}
	if !bytes.Equal(onDisk, want) {
		return fmt.Errorf("%s differs from the Secret", filepath.Join(r.certDir, "tls.crt"))
	}
	return nil
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: %v", what, err)
}

// TestFilesModeReadiness: in files (and cert-manager) mode, ready stays
// open while the directory holds an expired pair, closes once a valid pair
// appears, and the webhook server then serves it.
func TestFilesModeReadiness(t *testing.T) {
	cfg := startControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ca := newLocalCA(t)
	opts := certs.DefaultOptions()
	opts.Mode = certs.ModeFiles
	dir := filepath.Join(t.TempDir(), "certs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The kubelet mounts the Secret before the container starts; here it
	// holds an expired pair.
	now := time.Now()
	ca.writePair(t, dir, now.Add(-2*time.Hour), now.Add(-time.Hour))
	r := startReplicaIn(ctx, t, cfg, "files", opts, dir)
	select {
	case <-r.ready:
		t.Fatal("ready closed for an expired certificate")
	case err := <-r.done:
		t.Fatalf("manager stopped: %v", err)
	case <-time.After(2 * time.Second):
	}
	valid := ca.writePair(t, dir, now.Add(-time.Minute), now.Add(time.Hour))
	waitReady(t, r, 30*time.Second)
	waitFor(t, "the webhook server serving the new pair", 30*time.Second, func() error {
		return servesCert(r, ca.pem, valid)
	})
}

// localCA signs pairs for files mode.
type localCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newLocalCA(t *testing.T) *localCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "files-mode-ca"},
		NotBefore: time.Now().Add(-3 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &localCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// writePair writes a pair for localhost valid in [from, to) and returns the
// certificate PEM.
func (ca *localCA) writePair(t *testing.T, dir string, from, to time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(from.UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Key first, then certificate, each replaced whole, as a Secret volume
	// update does.
	writeReplace(t, dir, "tls.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writeReplace(t, dir, "tls.crt", crt)
	return crt
}

func writeReplace(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// exportsExpiry checks r's prepuller_webhook_certificate_expiry_timestamp_seconds
// against the NotAfter of the PEM certificate want.
func exportsExpiry(r *replica, want []byte) error {
	leaf, err := parseCert(want)
	if err != nil {
		return err
	}
	mfs, err := r.metrics.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if mf.GetName() == "prepuller_webhook_certificate_expiry_timestamp_seconds" && len(mf.GetMetric()) == 1 {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != float64(leaf.NotAfter.Unix()) {
				return fmt.Errorf("series says %s, the certificate expires at %s", time.Unix(int64(got), 0).UTC(), leaf.NotAfter.UTC())
			}
			return nil
		}
	}
	return fmt.Errorf("no certificate expiry series among %d families", len(mfs))
}
