package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const placedDaemonSet = pullerDaemonSet + "-placed"

// TestDemandPlacementInPlace: prepuller is switched to
// puller.placement.mode demand. The real kubelets run the placed puller
// pods' slot containers (the no-op program waiting), and a new image moves
// into a slot of the running pod on every node: the kubelet pulls it and
// restarts that one container, the pod is not recreated, and each node
// lists the image. Headroom 100 asks for every node, so the test does not
// depend on the demand of the earlier tests' pods (placement's choices are
// tested in test/integration/puller), and 8 slots leave empty ones (running
// the pause image) beside the earlier tests' images: with every slot taken
// by an image with as much demand, a new image waits for a slot.
func TestDemandPlacementInPlace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ensureUserNamespace(ctx, t)
	switchToDemand(ctx, t)

	nodes := nodeNames(ctx, t)
	var before map[string]*corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := placedPods(ctx)
		if err != nil || len(pods) != len(nodes) {
			return false, nil
		}
		for _, p := range pods {
			if !allRunning(p) {
				return false, nil
			}
		}
		before = pods
		return true, nil
	})
	if err != nil {
		t.Fatalf("placed puller pods not running on all %d nodes after 3m: %v", len(nodes), err)
	}
	var main appsv1.DaemonSet
	if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: pullerDaemonSet}, &main); err != nil {
		t.Fatal(err)
	}
	if n := len(main.Spec.Template.Spec.InitContainers); n != 1 {
		t.Errorf("puller DaemonSet has %d init containers in demand mode, want only the install container", n)
	}

	start := time.Now()
	p := userPod("grace", env.images.placed)
	if err := env.c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	ref := env.images.placed
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := placedPods(ctx)
		if err != nil || len(pods) != len(nodes) {
			return false, nil
		}
		for _, p := range pods {
			if !slotRuns(p, ref) {
				return false, nil
			}
		}
		var list corev1.NodeList
		if err := env.c.List(ctx, &list); err != nil {
			return false, nil
		}
		for i := range list.Items {
			if !nodeHasImage(&list.Items[i], ref) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		pods, _ := placedPods(ctx)
		t.Fatalf("%s not running in a slot on every node after 4m: %v (%s)", ref, err, describeSlots(pods))
	}
	env.results.PlacedInPlaceSeconds = time.Since(start).Seconds()
	t.Logf("%s in a slot of every node's placed puller pod, and listed by each kubelet, %.1fs after its first user pod", ref, env.results.PlacedInPlaceSeconds)

	after, err := placedPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for node, p := range after {
		if b := before[node]; b == nil || b.UID != p.UID {
			t.Errorf("placed puller pod on %s was recreated: the image must move in place", node)
		}
		for _, st := range p.Status.ContainerStatuses {
			if st.Image == ref || strings.HasSuffix(st.Image, "/notebook-placed:v1") {
				if st.RestartCount < 1 {
					t.Errorf("%s on %s: restart count %d, want the in-place restart", st.Name, node, st.RestartCount)
				}
			}
		}
	}
	waitPodRunning(ctx, t, "jupyter-grace")
}

// switchToDemand sets puller.placement in prepuller's configuration and
// restarts the Deployment, as an operator would.
func switchToDemand(ctx context.Context, t *testing.T) {
	t.Helper()
	var cm corev1.ConfigMap
	if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: "prepuller-config"}, &cm); err != nil {
		t.Fatal(err)
	}
	cfg := cm.Data["config.yaml"]
	if !strings.Contains(cfg, "\npuller:\n") || strings.Contains(cfg, "placement:") {
		t.Fatalf("prepuller-config has no puller section to edit, or a placement already:\n%s", cfg)
	}
	cm.Data["config.yaml"] = strings.Replace(cfg, "\npuller:\n", "\npuller:\n  placement:\n    mode: demand\n    slotsPerNode: 8\n    headroom: 100\n", 1)
	if err := env.c.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	dep := &appsv1.Deployment{}
	dep.Namespace, dep.Name = prepullerNS, "prepuller"
	if err := env.c.Patch(ctx, dep, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	if err := waitDeploymentReady(ctx, env.c, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// placedPods returns the placed puller pod of each node.
func placedPods(ctx context.Context) (map[string]*corev1.Pod, error) {
	var list corev1.PodList
	if err := env.c.List(ctx, &list, client.InNamespace(prepullerNS), client.MatchingLabels{"prepuller.dev/puller": placedDaemonSet}); err != nil {
		return nil, err
	}
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = p
		}
	}
	return out, nil
}

func allRunning(p *corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, st := range p.Status.ContainerStatuses {
		if st.State.Running == nil {
			return false
		}
	}
	return true
}

// slotRuns: a slot container's spec names ref and the kubelet runs it.
func slotRuns(p *corev1.Pod, ref string) bool {
	for _, c := range p.Spec.Containers {
		if c.Image != ref {
			continue
		}
		for _, st := range p.Status.ContainerStatuses {
			if st.Name == c.Name && st.State.Running != nil && strings.HasSuffix(st.Image, "/notebook-placed:v1") {
				return true
			}
		}
	}
	return false
}

func describeSlots(pods map[string]*corev1.Pod) string {
	var b strings.Builder
	for node, p := range pods {
		fmt.Fprintf(&b, "%s:", node)
		for _, st := range p.Status.ContainerStatuses {
			state := "running"
			switch {
			case st.State.Waiting != nil:
				state = "waiting " + st.State.Waiting.Reason
			case st.State.Terminated != nil:
				state = "terminated " + st.State.Terminated.Reason
			}
			fmt.Fprintf(&b, " %s=%s(%s, restarts %d)", st.Name, st.Image, state, st.RestartCount)
		}
		b.WriteString("; ")
	}
	return b.String()
}
