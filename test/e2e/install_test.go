package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"prepuller.dev/prepuller/test/cluster"
)

const (
	prepullerNS = "prepuller"
	userNS      = "jhub"
)

// The two ways a user installs prepuller; $E2E_INSTALL picks one per run
// (make e2e runs both, one after the other).
const (
	installKustomize = "kustomize"
	installHelm      = "helm"
)

// installFromEnv reads $E2E_INSTALL; empty means kustomize.
func installFromEnv() (string, error) {
	switch v := os.Getenv("E2E_INSTALL"); v {
	case "", installKustomize:
		return installKustomize, nil
	case installHelm:
		return installHelm, nil
	default:
		return "", fmt.Errorf("E2E_INSTALL=%q: want %q or %q", v, installKustomize, installHelm)
	}
}

// The install overlay: manifests/overlays/self-signed as shipped, with only
// what this cluster needs changed (docs/e2e.md lists the same):
//  1. images: prepuller's own image from the loopback registry;
//  2. config.yaml: puller.image (same image) and puller.pauseImage (no
//     registry.k8s.io here); puller.failureGracePeriod 30s and
//     puller.writeInterval 2s, so quarantine and DaemonSet writes happen
//     within a test's patience instead of the production defaults (5m, 10s);
//  3. KUBERNETES_SERVICE_HOST/PORT on the container: this cluster has no
//     kube-proxy, so the kubernetes Service's ClusterIP leads nowhere; the
//     pod reaches the API server at the bridge address instead.
const overlayKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %[1]s
images:
- name: ghcr.io/prepuller/prepuller
  newName: %[2]s
  newTag: e2e
configMapGenerator:
- name: prepuller-config
  namespace: prepuller
  behavior: replace
  files:
  - config.yaml
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: prepuller
      namespace: prepuller
    spec:
      template:
        spec:
          containers:
          - name: prepuller
            env:
            - name: KUBERNETES_SERVICE_HOST
              value: "%[3]s"
            - name: KUBERNETES_SERVICE_PORT
              value: "%[4]s"
`

// configEdits are the replacements made in manifests/base/config.yaml.
func configEdits(e *environment) [][2]string {
	return [][2]string{
		{"  image: ghcr.io/prepuller/prepuller:latest\n", "  image: " + e.images.prepuller + "\n"},
		{"  pauseImage: registry.k8s.io/pause:3.10.2\n", "  pauseImage: " + e.images.pause + "\n" +
			"  failureGracePeriod: 30s\n  writeInterval: 2s\n"},
	}
}

// renderKustomize builds the overlay above, like kubectl apply -k would.
func (e *environment) renderKustomize() ([]*unstructured.Unstructured, error) {
	root := cluster.RepoRoot()
	dir := filepath.Join(e.dir, "install")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base, err := os.ReadFile(filepath.Join(root, "manifests", "base", "config.yaml"))
	if err != nil {
		return nil, fmt.Errorf("reading the shipped config: %w", err)
	}
	cfg := string(base)
	for _, r := range configEdits(e) {
		if !strings.Contains(cfg, r[0]) {
			return nil, fmt.Errorf("manifests/base/config.yaml no longer has %q", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	host, port := e.apiServerHostPort()
	// kustomize takes resources as relative paths only.
	overlay, err := filepath.Rel(dir, filepath.Join(root, "manifests", "overlays", "self-signed"))
	if err != nil {
		return nil, err
	}
	k := fmt.Sprintf(overlayKustomization, overlay,
		strings.TrimSuffix(e.images.prepuller, ":e2e"), host, port)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	// The overlay lives outside the repository and points into it.
	opts.LoadRestrictions = types.LoadRestrictionsNone
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	return decodeObjects(out)
}

// apiServerHostPort is where pods reach the API server (the bridge address).
func (e *environment) apiServerHostPort() (string, string) {
	host, port, _ := strings.Cut(strings.TrimPrefix(e.config.Host, "https://"), ":")
	return host, port
}

// decodeObjects splits rendered multi-document YAML into objects.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decoding rendered manifests: %w", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// installPrepuller applies the kustomize overlay or the Helm chart, in the
// order each tool applies them (Namespace first), and waits until both
// replicas are Ready by the kubelets' probes.
func (e *environment) installPrepuller(ctx context.Context) error {
	var objs []*unstructured.Unstructured
	var err error
	switch e.install {
	case installKustomize:
		objs, err = e.renderKustomize()
	case installHelm:
		objs, err = e.renderHelm()
	default:
		err = fmt.Errorf("unknown install %q", e.install)
	}
	if err != nil {
		return err
	}
	for _, o := range objs {
		err := e.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner("prepuller-e2e"), client.ForceOwnership)
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return waitDeploymentReady(ctx, e.c, 3*time.Minute)
}

// waitDeploymentReady waits for prepuller's two replicas to be ready and
// up to date.
func waitDeploymentReady(ctx context.Context, c client.Client, timeout time.Duration) error {
	var last appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: "prepuller"}, &last); err != nil {
			return false, nil
		}
		s := last.Status
		return s.ObservedGeneration >= last.Generation && s.ReadyReplicas == 2 && s.UpdatedReplicas == 2 && s.Replicas == 2, nil
	})
	if err != nil {
		return fmt.Errorf("prepuller Deployment not ready (status %+v): %w", last.Status, err)
	}
	return nil
}
