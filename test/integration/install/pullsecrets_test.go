package install

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller/pullsecrets"
)

// The mirror test installs into namespaces of its own, so that its RBAC
// does not mix with the other tests' prepuller namespace.
const (
	mirrorNS = "prepuller-mirror"
	hubNS    = "jhub-mirror"
)

func mirrorValues() map[string]any {
	return map[string]any{
		"namespace": map[string]any{"create": true},
		"config": map[string]any{"puller": map[string]any{"mirrorPullSecrets": map[string]any{
			"namespace": hubNS, "names": []any{"regcred", "taken"},
		}}},
	}
}

func TestPullSecretMirrorIsOptIn(t *testing.T) {
	count := func(objs []*unstructured.Unstructured) int {
		n := 0
		for _, o := range objs {
			if strings.HasPrefix(o.GetName(), "prepuller-pull-secret") {
				n++
			}
		}
		return n
	}
	if n := count(renderHelm(t, "prepuller", "prepuller", nil)); n != 0 {
		t.Errorf("default values render %d pull secret RBAC objects, want none", n)
	}
	objs := renderHelm(t, "prepuller", mirrorNS, mirrorValues())
	if n := count(objs); n != 4 {
		t.Errorf("mirror values render %d pull secret RBAC objects, want 4 (two Roles, two RoleBindings)", n)
	}
	cfg := parseConfig(t, objs)
	if diff := cmp.Diff(pullsecrets.Options{Namespace: hubNS, Names: []string{"regcred", "taken"}}, cfg.Puller.MirrorPullSecrets); diff != "" {
		t.Errorf("config file's puller.mirrorPullSecrets (-want +got):\n%s", diff)
	}
}

// TestPullSecretMirrorRBAC installs the chart's RBAC with mirroring on and
// runs the mirror as prepuller's ServiceAccount (impersonated): it can
// copy and refresh exactly the named secrets, and nothing else.
func TestPullSecretMirrorRBAC(t *testing.T) {
	admin, w := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var rbac []*unstructured.Unstructured
	for _, o := range renderHelm(t, "prepuller", mirrorNS, mirrorValues()) {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "Role", "RoleBinding":
			rbac = append(rbac, o)
		}
	}
	apply(ctx, t, admin, w, rbac, false)

	dockerCfg := func(auth string) map[string][]byte {
		return map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example":{"auth":"` + auth + `"}}}`)}
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: hubNS}, Type: corev1.SecretTypeDockerConfigJson, Data: dockerCfg("b25l")},
		{ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: hubNS}, Type: corev1.SecretTypeDockerConfigJson, Data: dockerCfg("dGFrZW4=")},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: hubNS}, Type: corev1.SecretTypeOpaque},
		// Someone else's Secret under a mirrored name: not overwritten.
		{ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: mirrorNS}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"mine": []byte("x")}},
	} {
		if err := admin.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	cfg := controlPlane(t)
	cfg.Impersonate.UserName = "system:serviceaccount:" + mirrorNS + ":prepuller"
	cfg.Impersonate.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + mirrorNS, "system:authenticated"}
	sa, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := pullsecrets.New(pullsecrets.Options{Namespace: hubNS, Names: []string{"regcred", "taken"}}, mirrorNS, sa, sa, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}

	copyOf := func(name string) *corev1.Secret {
		t.Helper()
		var s corev1.Secret
		if err := admin.Get(ctx, client.ObjectKey{Namespace: mirrorNS, Name: name}, &s); err != nil {
			t.Fatalf("reading the copy: %v", err)
		}
		return &s
	}
	t.Run("copies", func(t *testing.T) {
		if err := m.Sync(ctx, "regcred"); err != nil {
			t.Fatalf("as prepuller: %v", err)
		}
		got := copyOf("regcred")
		if got.Type != corev1.SecretTypeDockerConfigJson || !cmp.Equal(got.Data, dockerCfg("b25l")) {
			t.Errorf("copy = %s %q, want the source's type and data", got.Type, got.Data)
		}
		if got.Annotations[pullsecrets.AnnotationSource] != hubNS+"/regcred" {
			t.Errorf("copy annotations = %v, want %s=%s/regcred", got.Annotations, pullsecrets.AnnotationSource, hubNS)
		}
	})
	t.Run("follows a rotated source", func(t *testing.T) {
		var src corev1.Secret
		if err := admin.Get(ctx, client.ObjectKey{Namespace: hubNS, Name: "regcred"}, &src); err != nil {
			t.Fatal(err)
		}
		src.Data = dockerCfg("dHdv")
		if err := admin.Update(ctx, &src); err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(ctx, "regcred"); err != nil {
			t.Fatalf("as prepuller: %v", err)
		}
		if got := copyOf("regcred"); !cmp.Equal(got.Data, dockerCfg("dHdv")) {
			t.Errorf("copy data = %q after the source changed", got.Data)
		}
	})
	t.Run("leaves a foreign Secret alone", func(t *testing.T) {
		err := m.Sync(ctx, "taken")
		if err == nil || !strings.Contains(err.Error(), "is not a copy") {
			t.Errorf("Sync(taken) = %v, want an error saying it is not a copy", err)
		}
		if got := copyOf("taken"); string(got.Data["mine"]) != "x" || got.Type != corev1.SecretTypeOpaque {
			t.Errorf("foreign Secret changed: %s %q", got.Type, got.Data)
		}
	})

	forbidden := map[string]func() error{
		"read an unnamed Secret in the hub's namespace": func() error {
			return sa.Get(ctx, client.ObjectKey{Namespace: hubNS, Name: "other"}, &corev1.Secret{})
		},
		"list the hub's Secrets": func() error { return sa.List(ctx, &corev1.SecretList{}, client.InNamespace(hubNS)) },
		"watch the hub's Secrets": func() error {
			wc, err := client.NewWithWatch(cfg, client.Options{Scheme: newScheme()})
			if err != nil {
				return err
			}
			wi, err := wc.Watch(ctx, &corev1.SecretList{}, client.InNamespace(hubNS))
			if err == nil {
				wi.Stop()
			}
			return err
		},
		"update the hub's Secret": func() error {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: hubNS}, Data: dockerCfg("eA==")}
			return sa.Update(ctx, s)
		},
		"delete a copy": func() error {
			return sa.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: mirrorNS}})
		},
		"create a Secret in the hub's namespace": func() error {
			return sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred2", Namespace: hubNS}})
		},
	}
	for name, call := range forbidden {
		t.Run("forbidden/"+name, func(t *testing.T) {
			if err := call(); !apierrors.IsForbidden(err) {
				t.Errorf("error = %v, want Forbidden", err)
			}
		})
	}

	// Updating any other Secret at home stays refused.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   cfg.Impersonate.UserName,
		Groups: cfg.Impersonate.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: "update", Resource: "secrets", Namespace: mirrorNS, Name: "prepuller-webhook-tls-not-mine",
		},
	}}
	if err := admin.Create(ctx, sar); err != nil {
		t.Fatal(err)
	}
	if sar.Status.Allowed {
		t.Errorf("prepuller may update any Secret in its namespace; want only the copies")
	}
}
