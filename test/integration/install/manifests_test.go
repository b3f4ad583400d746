package install

import (
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/webhook"
)

func parseConfig(t *testing.T, objs []*unstructured.Unstructured) config.Config {
	t.Helper()
	cm := find(t, objs, "ConfigMap", "prepuller-config")
	text, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml")
	// The way `prepuller serve --config` reads it: unknown keys are errors.
	cfg := config.Default()
	if err := config.Parse([]byte(text), &cfg); err != nil {
		t.Fatalf("config.yaml does not parse: %v\n%s", err, text)
	}
	return cfg
}

// TestKustomizeAndHelmRenderTheSameObjects: for the same settings, the two
// install methods must not drift apart.
func TestKustomizeAndHelmRenderTheSameObjects(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			kust := renderKustomize(t, overlay)
			helm := renderHelm(t, "prepuller", "prepuller", helmValues(overlay))
			for _, d := range diffInstalls(t, kust, helm) {
				t.Error(d)
			}
		})
	}
	// The comparison itself notices a difference.
	t.Run("a changed value is noticed", func(t *testing.T) {
		vals := helmValues("self-signed")
		vals["replicas"] = 3
		vals["config"].(map[string]any)["logLevel"] = "debug"
		diffs := diffInstalls(t, renderKustomize(t, "self-signed"), renderHelm(t, "prepuller", "prepuller", vals))
		if len(diffs) != 2 {
			t.Errorf("got %d differences, want 2 (Deployment replicas, config logLevel): %v", len(diffs), diffs)
		}
	})
}

// diffInstalls lists the differences between two renderings, one entry per
// object; config.yaml is compared as YAML, not as text.
func diffInstalls(t *testing.T, kustObjs, helmObjs []*unstructured.Unstructured) []string {
	t.Helper()
	kust, helm := byKey(kustObjs), byKey(helmObjs)
	var kustKeys, helmKeys []string
	for k := range kust {
		kustKeys = append(kustKeys, k)
	}
	for k := range helm {
		helmKeys = append(helmKeys, k)
	}
	if diff := cmp.Diff(kustKeys, helmKeys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		return []string{"objects (-kustomize +helm):\n" + diff}
	}
	var diffs []string
	for key, k := range kust {
		h := helm[key]
		if k.GetKind() == "ConfigMap" {
			if diff := cmp.Diff(configFile(t, []*unstructured.Unstructured{k}), configFile(t, []*unstructured.Unstructured{h})); diff != "" {
				diffs = append(diffs, key+" config.yaml (-kustomize +helm):\n"+diff)
			}
			k, h = k.DeepCopy(), h.DeepCopy()
			unstructured.RemoveNestedField(k.Object, "data")
			unstructured.RemoveNestedField(h.Object, "data")
		}
		if diff := cmp.Diff(k.Object, h.Object); diff != "" {
			diffs = append(diffs, key+" (-kustomize +helm):\n"+diff)
		}
	}
	return diffs
}

// TestConfigFiles: each overlay's configuration parses strictly (a typo
// would be a startup error), validates, and picks the overlay's mode.
func TestConfigFiles(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			cfg := parseConfig(t, renderKustomize(t, overlay))
			if err := cfg.Validate(); err != nil {
				t.Errorf("invalid configuration: %v", err)
			}
			if cfg.Certs.Mode != overlay {
				t.Errorf("certs.mode = %q, want %q", cfg.Certs.Mode, overlay)
			}
		})
	}
}

// TestWebhookConfigurationMatchesRenderer: the shipped configuration is what
// the webhook package renders for the shipped settings, in both install
// methods and in a namespace other than the default.
func TestWebhookConfigurationMatchesRenderer(t *testing.T) {
	cases := map[string]struct {
		namespace string
		render    func(t *testing.T) []*unstructured.Unstructured
	}{
		"kustomize self-signed": {"prepuller", func(t *testing.T) []*unstructured.Unstructured { return renderKustomize(t, "self-signed") }},
		"kustomize cert-manager": {"prepuller", func(t *testing.T) []*unstructured.Unstructured {
			return renderKustomize(t, "cert-manager")
		}},
		// The keys' old place (webhook.*), which prepuller still reads.
		"helm in another namespace, old keys": {"jhub-tools", func(t *testing.T) []*unstructured.Unstructured {
			return renderHelm(t, "pp", "jhub-tools", map[string]any{"config": map[string]any{
				"webhook": map[string]any{"podSelector": "component=singleuser-server,hub.jupyter.org/network-access-hub=true", "excludedNamespaces": []any{"kube-system", "monitoring"}},
			}})
		}},
	}
	for name, namespaces := range map[string][]any{
		"helm limited to namespaces":  {"jhub", "prepuller", "alpha"},
		"helm limited to excluded ns": {"kube-system"},
	} {
		cases[name] = struct {
			namespace string
			render    func(t *testing.T) []*unstructured.Unstructured
		}{"prepuller", func(t *testing.T) []*unstructured.Unstructured {
			return renderHelm(t, "prepuller", "prepuller", map[string]any{"config": map[string]any{
				"userPods": map[string]any{"namespaces": namespaces},
			}})
		}}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := tc.render(t)
			cfg := parseConfig(t, objs)
			got := &admissionregistrationv1.MutatingWebhookConfiguration{}
			u := find(t, objs, "MutatingWebhookConfiguration", cfg.Certs.WebhookConfigName)
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, got); err != nil {
				t.Fatal(err)
			}
			want := webhook.MutatingWebhookConfiguration(cfg.Certs.WebhookConfigName, cfg.UserPods, tc.namespace,
				admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
					Namespace: tc.namespace, Name: cfg.Certs.ServiceName, Path: ptr.To(webhook.Path), Port: ptr.To[int32](443),
				}})
			if cfg.Certs.Mode == certs.ModeCertManager {
				want.Annotations = certs.InjectAnnotations(tc.namespace)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("MutatingWebhookConfiguration (-renderer +shipped):\n%s", diff)
			}
		})
	}
}

// TestCertManagerObjects: the cert-manager overlay ships what
// certs.CertManagerObjects builds from the overlay's configuration.
func TestCertManagerObjects(t *testing.T) {
	objs := renderKustomize(t, "cert-manager")
	cfg := parseConfig(t, objs)
	wantIssuer, wantCert := certs.CertManagerObjects("prepuller", cfg.Certs)
	gotIssuer, gotCert := &cmv1.Issuer{}, &cmv1.Certificate{}
	for obj, u := range map[any]*unstructured.Unstructured{
		gotIssuer: find(t, objs, "Issuer", certs.IssuerName),
		gotCert:   find(t, objs, "Certificate", certs.CertificateName),
	} {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(wantIssuer, gotIssuer); diff != "" {
		t.Errorf("Issuer (-certs package +overlay):\n%s", diff)
	}
	if diff := cmp.Diff(wantCert, gotCert); diff != "" {
		t.Errorf("Certificate (-certs package +overlay):\n%s", diff)
	}
	// The Secret it fills is the one the Deployment mounts.
	dep := find(t, objs, "Deployment", "prepuller")
	vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	var mounted []string
	for _, v := range vols {
		if name, ok, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); ok {
			mounted = append(mounted, name)
		}
	}
	if diff := cmp.Diff([]string{wantCert.Spec.SecretName}, mounted); diff != "" {
		t.Errorf("mounted Secrets (-want +got):\n%s", diff)
	}
}
