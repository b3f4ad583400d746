package install

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"prepuller.dev/prepuller/test/cluster"
)

// The control plane is started on first use and shared by the tests of
// this package; the render tests never start it.
var (
	env = cluster.Shared{Setup: func(c *cluster.Cluster) error {
		// envtest's API server has no cert-manager: a minimal CRD for the
		// two kinds lets the cert-manager overlay be applied.
		_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join("testdata", "cert-manager-crds.yaml")},
			ErrorIfPathMissing: true,
		})
		return err
	}}
)

func TestMain(m *testing.M) {
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// controlPlane returns the shared etcd + kube-apiserver (authorization mode
// RBAC, PodSecurity admission on), with cert-manager's CRDs installed.
func controlPlane(t *testing.T) *rest.Config {
	t.Helper()
	return env.Config(t)
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	return s
}

// warnings collects the API server's warnings (PodSecurity reports a
// workload whose pod template breaks the namespace's level as a warning).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// newClient returns an admin client that records warnings.
func newClient(t *testing.T) (client.Client, *warnings) {
	t.Helper()
	cfg := controlPlane(t)
	w := &warnings{}
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// applyOrder puts what others depend on first, as kubectl does.
func applyOrder(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	rank := map[string]int{"Namespace": 0, "CustomResourceDefinition": 1, "ServiceAccount": 2, "ClusterRole": 3, "Role": 3, "ClusterRoleBinding": 4, "RoleBinding": 4, "ConfigMap": 5, "Secret": 5}
	out := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, ok := rank[out[i].GetKind()]
		if !ok {
			ri = 10
		}
		rj, ok := rank[out[j].GetKind()]
		if !ok {
			rj = 10
		}
		return ri < rj
	})
	return out
}

// apply server-side applies objs. The Namespace and ServiceAccount are
// always created for real (a dry-run object in a missing namespace is
// refused, and so is a Pod whose service account does not exist); the rest
// only when dryRun is false.
func apply(ctx context.Context, t *testing.T, c client.Client, w *warnings, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	for _, o := range applyOrder(objs) {
		opts := []client.ApplyOption{client.FieldOwner("prepuller-install-test"), client.ForceOwnership}
		if dryRun && o.GetKind() != "Namespace" && o.GetKind() != "ServiceAccount" {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...); err != nil {
			t.Errorf("applying %s: %v", objectKey(o), err)
		}
		for _, msg := range w.take() {
			t.Errorf("applying %s: API server warning: %s", objectKey(o), msg)
		}
	}
}

// withNamespace moves a rendering into namespace ns: what `kustomize edit set
// namespace` or `helm -n` would produce, for the parts the tests need to
// run side by side.
func withNamespace(objs []*unstructured.Unstructured, ns string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		o = o.DeepCopy()
		switch {
		case o.GetKind() == "Namespace":
			o.SetName(ns)
		case o.GetNamespace() != "":
			o.SetNamespace(ns)
		}
		out = append(out, o)
	}
	return out
}

// podFromTemplate makes a Pod from a Deployment's template, for a
// dry-run create that PodSecurity enforces (for Deployments it only warns).
func podFromTemplate(t *testing.T, dep *unstructured.Unstructured) *corev1.Pod {
	t.Helper()
	tmpl, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, pod); err != nil {
		t.Fatal(err)
	}
	pod.Name = strings.ToLower(dep.GetName()) + "-dry-run"
	pod.Namespace = dep.GetNamespace()
	return pod
}
