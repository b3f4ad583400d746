package e2e

import (
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"prepuller.dev/prepuller/test/cluster"
)

// helmValues are the chart's values for this cluster: the same changes as
// the kustomize overlay's (docs/e2e.md), as a user would pass them with
// --set or -f. puller.image is left empty: the chart fills in
// image.repository:image.tag.
func (e *environment) helmValues() map[string]any {
	return map[string]any{
		// What kubectl apply -k gets from the overlay; with the helm CLI
		// it would be --create-namespace plus the restricted label.
		"namespace": map[string]any{"create": true},
		"image": map[string]any{
			"repository": strings.TrimSuffix(e.images.prepuller, ":e2e"),
			"tag":        "e2e",
		},
		"config": map[string]any{"puller": map[string]any{
			"pauseImage":         e.images.pause,
			"failureGracePeriod": "30s",
			"writeInterval":      "2s",
		}},
	}
}

// renderHelm renders manifests/helm/prepuller as helm install would (in
// process: the Helm library, no helm binary), release "prepuller" in
// namespace prepuller, objects in Helm's install order.
func (e *environment) renderHelm() ([]*unstructured.Unstructured, error) {
	chrt, err := loader.Load(filepath.Join(cluster.RepoRoot(), "manifests", "helm", "prepuller"))
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	vals, err := chartutil.ToRenderValues(chrt, e.helmValues(),
		chartutil.ReleaseOptions{Name: "prepuller", Namespace: prepullerNS, IsInstall: true, Revision: 1},
		chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("sorting the chart's manifests: %w", err)
	}
	if len(hooks) > 0 {
		// Nothing here would run them; the chart has none today.
		return nil, fmt.Errorf("the chart has %d hooks, which this install does not run", len(hooks))
	}
	var objs []*unstructured.Unstructured
	for _, m := range manifests {
		o, err := decodeObjects([]byte(m.Content))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		objs = append(objs, o...)
	}
	host, port := e.apiServerHostPort()
	if err := setAPIServerEnv(objs, host, port); err != nil {
		return nil, err
	}
	return objs, nil
}

// setAPIServerEnv does what the overlay's patch does (change 3 in
// docs/e2e.md), as a helm --post-renderer would: the chart has no value for
// extra environment variables, and a cluster without kube-proxy needs the
// API server's own address.
func setAPIServerEnv(objs []*unstructured.Unstructured, host, port string) error {
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != "prepuller" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			return fmt.Errorf("reading the chart's Deployment: %w", err)
		}
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			if c.Name != "prepuller" {
				continue
			}
			c.Env = append(c.Env,
				corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: host},
				corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: port})
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&d)
			if err != nil {
				return fmt.Errorf("writing the chart's Deployment: %w", err)
			}
			// The converter adds an empty status and creationTimestamp;
			// server-side apply would own them.
			delete(u, "status")
			unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
			unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
			o.Object = u
			return nil
		}
	}
	return fmt.Errorf("the chart rendered no Deployment prepuller with a container prepuller")
}
