package cluster

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestFullControlPlane proves the harness gives what the puller and the demo
// rely on: kwok nodes turn Ready, the DaemonSet controller creates a pod per
// node, and kwok runs them with their init containers terminated, exit 0.
func TestFullControlPlane(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{ControllerManager: true, Scheduler: true, Kwok: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping cluster: %v", err)
		}
	})
	k, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := CreateNodes(ctx, k, "node", 2, NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range nodes {
		waitFor(ctx, t, "node "+name+" Ready", func() (bool, error) {
			var n corev1.Node
			if err := k.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
				return false, err
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
	}

	labels := map[string]string{"app": "probe"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "pull", Image: "docker.io/library/busybox:1"}},
					Containers:     []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10.2"}},
				},
			},
		},
	}
	if err := k.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "a running puller pod on each node, init container done", func() (bool, error) {
		var pods corev1.PodList
		if err := k.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
			return false, err
		}
		onNode := map[string]bool{}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || len(p.Status.InitContainerStatuses) != 1 {
				continue
			}
			term := p.Status.InitContainerStatuses[0].State.Terminated
			if term != nil && term.ExitCode == 0 {
				onNode[p.Spec.NodeName] = true
			}
		}
		return len(onNode) == len(nodes), nil
	})
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last error: %v)", what, err, last)
	}
}
