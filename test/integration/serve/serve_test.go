// Package serve runs the whole of `prepuller serve` (app.Run) in-process
// against a real kube-apiserver and etcd, with its webhook registered by a
// real MutatingWebhookConfiguration over TLS.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/cmd/prepuller/app"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

const ns = "prepuller"

// TestServe starts prepuller, waits for /readyz, and proves a singleuser pod
// CREATE reaches the handler through the API server (it comes back
// annotated and steered toward the node holding its image), that other pods
// are left alone, and that SIGTERM-style cancellation shuts down cleanly.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, k := startCluster(ctx, t, ns, "users")
	// Two nodes, one already holding the image the first pod asks for.
	const image = "quay.io/jupyter/scipy-notebook:2024-10-07"
	createNode(ctx, t, k, "node-0", image)
	createNode(ctx, t, k, "node-1")

	cfg, err := c.PrepullerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	done, err := cluster.RunPrepuller(runCtx, c.Config, cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The inventory fills from informers: retry pod creation until the
	// steering sees node-0 (each attempt is a fresh pod).
	var got corev1.Pod
	attempt := 0
	waitFor(ctx, t, "a singleuser pod steered toward node-0", func() (bool, error) {
		attempt++
		pod := userPod(fmt.Sprintf("jupyter-alice-%d", attempt), image)
		if err := k.Create(ctx, pod); err != nil {
			return false, err
		}
		got = *pod
		return hasTermFor(&got, "node-0"), nil
	})
	if got.Annotations[webhook.AnnotationSteered] == "" {
		t.Errorf("steered pod has no %s annotation: %v", webhook.AnnotationSteered, got.Annotations)
	}

	other := userPod("not-a-user", image)
	other.Labels = map[string]string{"app": "something-else"}
	if err := k.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, ok := other.Annotations[webhook.AnnotationSteered]; ok || other.Spec.Affinity != nil {
		t.Errorf("a pod without the singleuser label was mutated: annotations %v, affinity %v", other.Annotations, other.Spec.Affinity)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("prepuller returned %v after cancellation, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("prepuller did not stop within 30s of cancellation")
	}
}

func userPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   "users",
			Labels:      map[string]string{"component": "singleuser-server"},
			Annotations: map[string]string{"hub.jupyter.org/username": "alice"},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "notebook", Image: image}}},
	}
}

func hasTermFor(p *corev1.Pod, node string) bool {
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil {
		return false
	}
	for _, term := range p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		for _, r := range term.Preference.MatchExpressions {
			if r.Key == corev1.LabelHostname && r.Operator == corev1.NodeSelectorOpIn &&
				len(r.Values) == 1 && r.Values[0] == node {
				return true
			}
		}
	}
	return false
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last error: %v)", what, errors.Join(err, last), last)
	}
}

// TestNotReadyUntilCertificate: with no certificate in the directory,
// /readyz must not pass (the Service would send admissions to a replica that
// cannot serve them); once the key pair appears it turns ready without a
// restart.
func TestNotReadyUntilCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, _ := startCluster(ctx, t, ns)
	cfg, err := c.PrepullerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	envtestCerts := cfg.Webhook.CertDir
	cfg.Webhook.CertDir = t.TempDir() // empty: nobody has written the key pair yet

	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, c.Config, cfg) }()

	// Ready must not pass while the directory is empty.
	notReadyFor := 3 * time.Second
	deadline := time.Now().Add(notReadyFor)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("prepuller stopped while waiting for its certificate: %v", err)
		default:
		}
		if resp, err := http.Get("http://" + cfg.HealthProbeBindAddress + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("/readyz passed with no certificate in the directory")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		data, err := os.ReadFile(filepath.Join(envtestCerts, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Webhook.CertDir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.WaitReady(ctx, cfg.HealthProbeBindAddress, done); err != nil {
		t.Fatal(err)
	}
}

// createNode creates a Ready node whose status lists images.
func createNode(ctx context.Context, t *testing.T, k client.Client, name string, images ...string) {
	t.Helper()
	n := cluster.NewNode(name, cluster.NodeOptions{})
	n.Status = corev1.NodeStatus{}
	if err := k.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, img := range images {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{img}, SizeBytes: 4e9})
	}
	if err := k.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// startCluster starts etcd and kube-apiserver with prepuller's webhook
// registered (envtest's certificate, served by the test) and creates the
// namespaces.
func startCluster(ctx context.Context, t *testing.T, namespaces ...string) (*cluster.Cluster, client.Client) {
	t.Helper()
	return startClusterWith(ctx, t, cluster.Options{Webhooks: cluster.PrepullerWebhooks(ns, userpod.DefaultOptions())}, namespaces...)
}

// startClusterWith is startCluster with the cluster's options given.
func startClusterWith(ctx context.Context, t *testing.T, opts cluster.Options, namespaces ...string) (*cluster.Cluster, client.Client) {
	t.Helper()
	logf.SetLogger(zap.New(zap.WriteTo(t.Output()), zap.UseDevMode(true)))
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	k, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range namespaces {
		if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	return c, k
}
