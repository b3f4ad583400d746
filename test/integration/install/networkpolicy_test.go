package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// renderWithNetworkPolicy builds an overlay of the user's own that adds
// manifests/components/networkpolicy to manifests/overlays/<overlay>, as
// docs/security.md tells operators to.
func renderWithNetworkPolicy(t testing.TB, overlay string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	root := repoRoot(t)
	// kustomize refuses absolute paths to other kustomizations.
	rel := func(path ...string) string {
		r, err := filepath.Rel(dir, filepath.Join(append([]string{root, "manifests"}, path...)...))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources:\n- " + rel("overlays", overlay) + "\n" +
		"components:\n- " + rel("components", "networkpolicy") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build with the networkpolicy component: %v", err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, out)
}

func networkPolicies(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "NetworkPolicy" {
			out = append(out, o)
		}
	}
	return out
}

func helmNetworkPolicyValues(mode string, np map[string]any) map[string]any {
	v := helmValues(mode)
	v["networkPolicy"] = np
	return v
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	obj := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestNetworkPolicyIsOptIn: neither install renders a NetworkPolicy unless
// asked; asked, both render the same one, and it selects prepuller's pods
// and names ports they have.
func TestNetworkPolicyIsOptIn(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			if got := networkPolicies(renderKustomize(t, overlay)); len(got) != 0 {
				t.Errorf("kustomize overlay renders %d NetworkPolicies by default, want none", len(got))
			}
			if got := networkPolicies(renderHelm(t, "prepuller", "prepuller", helmValues(overlay))); len(got) != 0 {
				t.Errorf("chart renders %d NetworkPolicies by default, want none", len(got))
			}
			kust := renderWithNetworkPolicy(t, overlay)
			helm := renderHelm(t, "prepuller", "prepuller", helmNetworkPolicyValues(overlay, map[string]any{"enabled": true}))
			for _, d := range diffInstalls(t, kust, helm) {
				t.Error(d)
			}
			for name, objs := range map[string][]*unstructured.Unstructured{"kustomize": kust, "helm": helm} {
				nps := networkPolicies(objs)
				if len(nps) != 1 {
					t.Fatalf("%s renders %d NetworkPolicies, want 1", name, len(nps))
				}
				checkPolicyFitsDeployment(t, typed[networkingv1.NetworkPolicy](t, nps[0]), typed[appsv1.Deployment](t, find(t, objs, "Deployment", "prepuller")))
			}
		})
	}
}

// checkPolicyFitsDeployment: a selector or port name that drifted from the
// Deployment would make the policy isolate nothing, or close a port.
func checkPolicyFitsDeployment(t *testing.T, np *networkingv1.NetworkPolicy, dep *appsv1.Deployment) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy selector %q does not select the Deployment's pods %v", sel, dep.Spec.Template.Labels)
	}
	if np.Namespace != dep.Namespace {
		t.Errorf("NetworkPolicy in %q, Deployment in %q", np.Namespace, dep.Namespace)
	}
	ports := map[string]bool{}
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = true
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil || !ports[p.Port.String()] {
				t.Errorf("NetworkPolicy port %v is not a named port of the Deployment's container", p.Port)
			}
		}
	}
}

// TestNetworkPolicyValues: the chart's values shape the rules; in
// particular no peers for metrics must close the port, not open it (a rule
// with an empty "from" admits everyone).
func TestNetworkPolicyValues(t *testing.T) {
	prometheus := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "prom"}}}
	cases := map[string]struct {
		values map[string]any
		want   map[string][]string // port -> peers, "*" for anyone
	}{
		"defaults": {
			values: map[string]any{"enabled": true},
			want:   map[string][]string{"webhook": {"*"}, "metrics": {"ns kubernetes.io/metadata.name=monitoring"}},
		},
		"webhook CIDRs, own Prometheus namespace": {
			values: map[string]any{"enabled": true, "webhook": map[string]any{"cidrs": []any{"10.0.0.0/24", "fd00::/64"}}, "metrics": map[string]any{"from": []any{prometheus}}},
			want:   map[string][]string{"webhook": {"ip 10.0.0.0/24", "ip fd00::/64"}, "metrics": {"ns kubernetes.io/metadata.name=prom"}},
		},
		"no metrics peers closes metrics": {
			values: map[string]any{"enabled": true, "metrics": map[string]any{"from": []any{}}},
			want:   map[string][]string{"webhook": {"*"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nps := networkPolicies(renderHelm(t, "prepuller", "prepuller", helmNetworkPolicyValues("self-signed", tc.values)))
			if len(nps) != 1 {
				t.Fatalf("%d NetworkPolicies, want 1", len(nps))
			}
			np := typed[networkingv1.NetworkPolicy](t, nps[0])
			if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes); diff != "" {
				t.Errorf("policyTypes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, ingressSummary(np)); diff != "" {
				t.Errorf("ingress (-want +got):\n%s", diff)
			}
		})
	}
}

func ingressSummary(np *networkingv1.NetworkPolicy) map[string][]string {
	got := map[string][]string{}
	for _, rule := range np.Spec.Ingress {
		var peers []string
		if len(rule.From) == 0 {
			peers = []string{"*"}
		}
		for _, p := range rule.From {
			switch {
			case p.IPBlock != nil:
				peers = append(peers, "ip "+p.IPBlock.CIDR)
			case p.NamespaceSelector != nil && p.PodSelector == nil:
				peers = append(peers, "ns "+labels.Set(p.NamespaceSelector.MatchLabels).String())
			default:
				peers = append(peers, "other")
			}
		}
		for _, port := range rule.Ports {
			got[port.Port.String()] = append(got[port.Port.String()], peers...)
		}
	}
	return got
}

// TestNetworkPolicyApplies creates the policies for real on the test API
// server, which validates them (a bad CIDR shows that it does).
func TestNetworkPolicyApplies(t *testing.T) {
	c, w := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	renders := map[string][]*unstructured.Unstructured{
		"kustomize self-signed + component":  renderWithNetworkPolicy(t, "self-signed"),
		"kustomize cert-manager + component": renderWithNetworkPolicy(t, "cert-manager"),
		"helm, CIDRs and peers": renderHelm(t, "prepuller", "prepuller", helmNetworkPolicyValues("self-signed", map[string]any{
			"enabled": true,
			"webhook": map[string]any{"cidrs": []any{"10.0.0.0/24", "fd00::/64"}},
			"metrics": map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "prometheus"}}}}},
		})),
	}
	for name, objs := range renders {
		t.Run(name, func(t *testing.T) {
			apply(ctx, t, c, w, objs, true)
			np := networkPolicies(objs)[0]
			// For real, not only dry-run: the object as stored.
			apply(ctx, t, c, w, []*unstructured.Unstructured{np}, false)
			stored := &networkingv1.NetworkPolicy{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: np.GetNamespace(), Name: np.GetName()}, stored); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ingressSummary(typed[networkingv1.NetworkPolicy](t, np)), ingressSummary(stored)); diff != "" {
				t.Errorf("stored policy differs (-rendered +stored):\n%s", diff)
			}
		})
	}
	t.Run("an invalid CIDR is refused", func(t *testing.T) {
		objs := renderHelm(t, "prepuller", "prepuller", helmNetworkPolicyValues("self-signed", map[string]any{
			"enabled": true, "webhook": map[string]any{"cidrs": []any{"10.0.0.0/33"}},
		}))
		np := networkPolicies(objs)[0]
		err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(np.DeepCopy()), client.FieldOwner("prepuller-install-test"), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "cidr") {
			t.Errorf("applying a policy with CIDR 10.0.0.0/33: %v, want a validation error", err)
		}
	})
}
