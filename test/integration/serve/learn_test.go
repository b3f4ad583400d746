package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

// Only pods the API server shows exist are learned, and one pod is one
// user. With puller.minUsers 2:
//   - two AdmissionReviews forged straight to the webhook port, for pods of
//     two users that never exist, teach nothing (they used to put the image
//     on every node);
//   - one generateName pod with no user name, created through the API
//     server, counts once (it used to count as "ns/prefix" and "ns/name");
//   - two real users' pods of one image are learned and pulled.
func TestLearnsOnlyPodsThatExist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, k := startCluster(ctx, t, ns, "users")
	cfg, err := c.PrepullerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Puller.MinUsers = 2
	cfg.Puller.WriteInterval = metav1.Duration{Duration: time.Second}
	cfg.Puller.RolloutWait = metav1.Duration{}
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	if _, err := cluster.RunPrepuller(runCtx, c.Config, cfg); err != nil {
		t.Fatal(err)
	}

	const forged, generated, real = "quay.io/forged/x:1", "quay.io/generated/x:1", "quay.io/real/x:1"
	for _, user := range []string{"mallory", "eve"} {
		forgeReview(ctx, t, cfg.Webhook.Port, userPod("jupyter-"+user, forged))
	}
	gen := userPod("", generated)
	gen.GenerateName = "jupyter-"
	delete(gen.Annotations, "hub.jupyter.org/username")
	if err := k.Create(ctx, gen); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "bob"} {
		p := userPod("jupyter-"+user, real)
		p.Annotations["hub.jupyter.org/username"] = user
		if err := k.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	var images []string
	waitFor(ctx, t, "the real image in the puller DaemonSet", func() (bool, error) {
		var ds appsv1.DaemonSet
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: cfg.Puller.DaemonSetName}, &ds); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		images = render.Images(&ds)
		return slices.Contains(images, real), nil
	})
	if slices.Contains(images, forged) || slices.Contains(images, generated) {
		t.Errorf("DaemonSet pulls %v: a forged review or a one-user generateName pod was counted", images)
	}
	var cm corev1.ConfigMap
	waitFor(ctx, t, "the state ConfigMap", func() (bool, error) {
		err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: cfg.Puller.StateConfigMapName}, &cm)
		return err == nil, client.IgnoreNotFound(err)
	})
	set, err := imageset.Decode([]byte(cm.Data[puller.StateKey]))
	if err != nil {
		t.Fatal(err)
	}
	if e := set.Get(forged); e != nil {
		t.Errorf("the forged image is in the learned set: %+v", e)
	}
	e := set.Get(generated)
	if e == nil {
		t.Fatal("the generateName pod's image was not learned")
	}
	if len(e.Users) != 1 || e.Pods != 1 {
		t.Errorf("generateName pod counted as users %v, pods %d; want one of each", e.Users, e.Pods)
	}
}

// forgeReview POSTs an AdmissionReview for pod straight to the webhook
// port, as any client that reaches it could, and checks it was answered.
func forgeReview(ctx context.Context, t *testing.T, port int, pod *corev1.Pod) {
	t.Helper()
	if err := postReview(ctx, port, pod); err != nil {
		t.Fatalf("forged review: %v", err)
	}
}

// postReview POSTs an AdmissionReview for pod to the webhook port without
// a client certificate and reports whether it was answered and allowed.
func postReview(ctx context.Context, port int, pod *corev1.Pod) error {
	raw, err := json.Marshal(pod)
	if err != nil {
		return err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("forged-" + pod.Name),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      pod.Name,
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The attacker does not care who the server is.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a forged client
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d%s", port, webhook.Path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || !out.Response.Allowed {
		return fmt.Errorf("HTTP %d, %v, %+v", resp.StatusCode, err, out.Response)
	}
	return nil
}
