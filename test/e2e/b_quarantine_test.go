package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestQuarantine: a user pod names an image the registry does not have.
// prepuller learns it and the puller pods' init container for it fails on
// both kubelets (ErrImagePull, ImagePullBackOff); prepuller quarantines it
// (an ImageQuarantined event, no init container for it any more) and every
// other learned image is still pulled on every node.
func TestQuarantine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ensureUserNamespace(ctx, t)
	missing := env.images.missing
	if err := env.c.Create(ctx, userPod("frank", missing)); err != nil {
		t.Fatalf("creating jupyter-frank: %v", err)
	}

	// The kubelets report the failure on the puller pods.
	failedOn := map[string]string{}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := pullerPods(ctx)
		if err != nil {
			return false, nil
		}
		for node, p := range pods {
			name := containerFor(p.Spec.InitContainers, missing)
			for _, s := range p.Status.InitContainerStatuses {
				if s.Name == name && s.State.Waiting != nil &&
					(s.State.Waiting.Reason == "ErrImagePull" || s.State.Waiting.Reason == "ImagePullBackOff") {
					failedOn[node] = s.State.Waiting.Reason
				}
			}
		}
		return len(failedOn) == 2, nil
	})
	if err != nil {
		t.Fatalf("puller pods never failed to pull %s on both nodes (seen: %v): %v", missing, failedOn, err)
	}
	t.Logf("kubelets report %v", failedOn)

	// Quarantined: the event, and the DaemonSet no longer pulls it.
	var note string
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var evs corev1.EventList
		if err := env.c.List(ctx, &evs, client.InNamespace(prepullerNS)); err != nil {
			return false, nil
		}
		for _, ev := range evs.Items {
			if ev.Reason == "ImageQuarantined" && strings.Contains(ev.Message, missing) {
				note = ev.Message
			}
		}
		var ds appsv1.DaemonSet
		if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: pullerDaemonSet}, &ds); err != nil {
			return false, nil
		}
		return note != "" && containerFor(ds.Spec.Template.Spec.InitContainers, missing) == "", nil
	})
	if err != nil {
		t.Fatalf("%s not quarantined (event %q): %v", missing, note, err)
	}
	t.Logf("quarantined: %s", note)

	// Everything else is still pulled everywhere.
	var ds appsv1.DaemonSet
	if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: pullerDaemonSet}, &ds); err != nil {
		t.Fatal(err)
	}
	for _, img := range env.images.users {
		if containerFor(ds.Spec.Template.Spec.InitContainers, img.Ref) == "" {
			t.Errorf("after the quarantine the DaemonSet lost %s", img.Ref)
		}
	}
	waitPullerPodsPulled(ctx, t, []string{"node-1", "node-2"}, refs(env.images.users))
}
