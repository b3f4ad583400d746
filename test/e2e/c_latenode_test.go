package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestLateNode: a third node joins after the images were learned. The
// puller pulls every learned image onto it with no user pod landing there.
func TestLateNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := env.addNode(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := refs(env.images.users)
	var node corev1.Node
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if env.results.LateNodePulledSeconds == 0 {
			if pods, err := pullerPods(ctx); err == nil && pods[n.Name] != nil {
				all := true
				for _, ref := range want {
					all = all && initExitedZero(pods[n.Name], containerFor(pods[n.Name].Spec.InitContainers, ref))
				}
				if all {
					env.results.LateNodePulledSeconds = time.Since(start).Seconds()
				}
			}
		}
		if err := env.c.Get(ctx, client.ObjectKey{Name: n.Name}, &node); err != nil {
			return false, nil
		}
		for _, ref := range want {
			if !nodeHasImage(&node, ref) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s lacks learned images after 3m (status images %v): %v", n.Name, node.Status.Images, err)
	}
	env.results.LateNodeSeconds = time.Since(start).Seconds()
	t.Logf("%s: all %d learned images pulled %.1fs, listed in node.status.images %.1fs after its kubelet started",
		n.Name, len(want), env.results.LateNodePulledSeconds, env.results.LateNodeSeconds)
	waitPullerPodsPulled(ctx, t, []string{n.Name}, want)

	var pods corev1.PodList
	if err := env.c.List(ctx, &pods, client.InNamespace(userNS)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == n.Name {
			t.Errorf("user pod %s landed on %s: the images must come from the puller alone", p.Name, n.Name)
		}
	}
}
