package install

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestInstallsApply applies every overlay and the chart in both modes to a
// real API server (server-side apply, dry-run) into a namespace enforcing
// Pod Security "restricted", and dry-run creates the Deployment's pod,
// which PodSecurity enforces.
func TestInstallsApply(t *testing.T) {
	c, w := newClient(t)
	cases := map[string]func(t *testing.T) []*unstructured.Unstructured{
		"kustomize self-signed":  func(t *testing.T) []*unstructured.Unstructured { return renderKustomize(t, "self-signed") },
		"kustomize cert-manager": func(t *testing.T) []*unstructured.Unstructured { return renderKustomize(t, "cert-manager") },
		"helm self-signed": func(t *testing.T) []*unstructured.Unstructured {
			return renderHelm(t, "prepuller", "prepuller", helmValues("self-signed"))
		},
		"helm cert-manager": func(t *testing.T) []*unstructured.Unstructured {
			return renderHelm(t, "prepuller", "prepuller", helmValues("cert-manager"))
		},
	}
	for name, render := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			objs := render(t)
			apply(ctx, t, c, w, objs, true)
			ns := find(t, objs, "Namespace", "prepuller")
			if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
				t.Errorf("namespace enforces %q, want restricted", got)
			}
			pod := podFromTemplate(t, find(t, objs, "Deployment", "prepuller"))
			if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
				t.Errorf("dry-run creating the Deployment's pod: %v", err)
			}
			for _, msg := range w.take() {
				t.Errorf("dry-run creating the Deployment's pod: API server warning: %s", msg)
			}
		})
	}
}

// TestRestrictedIsEnforced shows the check above can fail: the same pod
// without its security context is refused in the install's namespace.
func TestRestrictedIsEnforced(t *testing.T) {
	c, w := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs := renderKustomize(t, "self-signed")
	apply(ctx, t, c, w, objs, true)
	pod := podFromTemplate(t, find(t, objs, "Deployment", "prepuller"))
	pod.Spec.SecurityContext = nil
	pod.Spec.Containers[0].SecurityContext = nil
	err := c.Create(ctx, pod, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("creating a pod without security context = %v, want a PodSecurity restricted refusal", err)
	}
}
