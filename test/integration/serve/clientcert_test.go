package serve

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/test/pki"
)

// With webhook.clientCAFile set, the webhook port answers only clients
// with a certificate from that CA. The real API server, configured through
// its AdmissionConfiguration to present one (docs/security.md), still
// reaches the webhook and its pods are steered; a review forged straight
// to the port without one is refused in the TLS handshake.
func TestClientCertificateRequired(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ca := pki.NewCA(t, "apiserver-webhook-clients")
	crt, key := ca.Issue(t, x509.ExtKeyUsageClientAuth, 2)
	addr, err := cluster.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	// The API server picks the client certificate by the webhook's
	// host:port (envtest registers it by URL; a Service would be
	// <service>.<namespace>.svc).
	files := map[string]string{
		"client-ca.crt": string(ca.PEM),
		"client.crt":    string(crt),
		"client.key":    string(key),
		"webhook-kubeconfig.yaml": fmt.Sprintf(`apiVersion: v1
kind: Config
users:
- name: "127.0.0.1:%d"
  user:
    client-certificate: %s
    client-key: %s
`, port, filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")),
		"admission.yaml": fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %s
`, filepath.Join(dir, "webhook-kubeconfig.yaml")),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hooks := cluster.PrepullerWebhooks(ns, userpod.DefaultOptions())
	hooks.LocalServingPort = port
	c, k := startClusterWith(ctx, t, cluster.Options{
		Webhooks:      hooks,
		APIServerArgs: map[string]string{"admission-control-config-file": filepath.Join(dir, "admission.yaml")},
	}, ns, "users")
	const image = "quay.io/jupyter/scipy-notebook:2024-10-07"
	createNode(ctx, t, k, "node-0", image)
	createNode(ctx, t, k, "node-1") // steering needs a node without it

	cfg, err := c.PrepullerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Webhook.ClientCAFile = filepath.Join(dir, "client-ca.crt")
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	if _, err := cluster.RunPrepuller(runCtx, c.Config, cfg); err != nil {
		t.Fatal(err)
	}

	// Through the API server: its certificate gets it through, and the
	// webhook steers (the inventory fills from informers: retry with
	// fresh pods until it sees node-0).
	attempt := 0
	waitFor(ctx, t, "a pod created through the API server steered toward node-0", func() (bool, error) {
		attempt++
		pod := userPod(fmt.Sprintf("jupyter-alice-%d", attempt), image)
		if err := k.Create(ctx, pod); err != nil {
			return false, err
		}
		return hasTermFor(pod, "node-0"), nil
	})

	// Straight to the port, without a certificate: refused.
	err = postReview(ctx, cfg.Webhook.Port, userPod("jupyter-mallory", image))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("forged review without a client certificate: %v, want a TLS refusal", err)
	}
}
