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

const pullerDaemonSet = "prepuller-puller"

// TestLearnAndPull: user pods with shell-less images of three sizes are
// learned, and the puller DaemonSet really pulls every image on every node:
// each image's init container terminated with exit 0 on each node, and each
// kubelet lists the images in node.status.images.
func TestLearnAndPull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ensureUserNamespace(ctx, t)
	users := env.images.users[:3]
	created := map[string]time.Time{}
	for i, img := range users {
		p := userPod([]string{"alice", "bob", "carol"}[i], img.Ref)
		created[img.Ref] = time.Now()
		if err := env.c.Create(ctx, p); err != nil {
			t.Fatalf("creating %s: %v", p.Name, err)
		}
	}
	nodes := nodeNames(ctx, t)
	if len(nodes) != 2 {
		t.Fatalf("nodes = %v, want the two real nodes", nodes)
	}

	// Every image on every node, as the kubelets report it: pulled (the
	// puller pod's init container for it exited 0) and listed in
	// node.status.images.
	everywhere := map[string]float64{}
	pulled := map[string]float64{}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		if pods, err := pullerPods(ctx); err == nil && len(pods) == len(nodes) {
			for _, img := range users {
				if _, done := pulled[img.Ref]; done {
					continue
				}
				all := true
				for _, p := range pods {
					all = all && initExitedZero(p, containerFor(p.Spec.InitContainers, img.Ref))
				}
				if all {
					pulled[img.Ref] = time.Since(created[img.Ref]).Seconds()
				}
			}
		}
		var list corev1.NodeList
		if err := env.c.List(ctx, &list); err != nil {
			return false, nil
		}
		for _, img := range users {
			if _, done := everywhere[img.Ref]; done {
				continue
			}
			all := true
			for i := range list.Items {
				all = all && nodeHasImage(&list.Items[i], img.Ref)
			}
			if all {
				everywhere[img.Ref] = time.Since(created[img.Ref]).Seconds()
			}
		}
		// Both, for every image: an image a user pod brought to its node
		// can be listed everywhere before the puller's init container for
		// it has exited there, and its pull time would go unmeasured.
		return len(everywhere) == len(users) && len(pulled) == len(users), nil
	})
	if err != nil {
		t.Fatalf("images pulled and listed on every node after 5m: %v (listed: %v, pulled: %v)", err, everywhere, pulled)
	}
	env.results.FirstPodToEveryNode = everywhere
	env.results.FirstPodToPulledEverywhere = pulled
	for ref, s := range everywhere {
		t.Logf("%s pulled by the puller on every node %.1fs, listed in every node.status.images %.1fs after its first user pod", ref, pulled[ref], s)
	}

	// The puller did it: one init container per image, exit 0 on each node.
	var ds appsv1.DaemonSet
	if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: pullerDaemonSet}, &ds); err != nil {
		t.Fatalf("puller DaemonSet: %v", err)
	}
	for _, img := range users {
		if containerFor(ds.Spec.Template.Spec.InitContainers, img.Ref) == "" {
			t.Errorf("puller DaemonSet has no init container for %s", img.Ref)
		}
	}
	// Each template write is a rollout of every puller pod: what the time
	// to every node is made of.
	env.results.PullerGenerationAfterLearn = ds.Generation
	t.Logf("puller DaemonSet at generation %d after learning %d images", ds.Generation, len(users))
	waitPullerPodsPulled(ctx, t, nodes, refs(users))

	// User pods run (their image was there or pulled).
	for _, u := range []string{"alice", "bob", "carol"} {
		waitPodRunning(ctx, t, "jupyter-"+u)
	}
	pulls, err := pullEvents(ctx, prepullerNS)
	if err != nil {
		t.Fatal(err)
	}
	userPulls, err := pullEvents(ctx, userNS)
	if err != nil {
		t.Fatal(err)
	}
	env.results.Pulls = append(pulls, userPulls...)
	for _, p := range env.results.Pulls {
		t.Logf("pull %s on %s for %s: %d bytes in %.3fs (%.0f MB/s)", p.Image, p.Node, p.Pod, p.Bytes, p.Seconds, p.MBPerSec)
	}
}

// waitPullerPodsPulled waits until the puller pod on each node shows every
// image's init container terminated with exit code 0.
func waitPullerPodsPulled(ctx context.Context, t *testing.T, nodes []string, images []string) {
	t.Helper()
	var missing []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := pullerPods(ctx)
		if err != nil {
			return false, nil
		}
		missing = missing[:0]
		for _, node := range nodes {
			p := pods[node]
			if p == nil {
				missing = append(missing, node+": no puller pod")
				continue
			}
			for _, img := range images {
				name := containerFor(p.Spec.InitContainers, img)
				if !initExitedZero(p, name) {
					missing = append(missing, node+": "+img)
				}
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Fatalf("puller pods: not pulled: %v: %v", missing, err)
	}
}

// pullerPods returns the newest puller pod of each node.
func pullerPods(ctx context.Context) (map[string]*corev1.Pod, error) {
	var list corev1.PodList
	if err := env.c.List(ctx, &list, client.InNamespace(prepullerNS), client.MatchingLabels{"prepuller.dev/puller": pullerDaemonSet}); err != nil {
		return nil, err
	}
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		if cur := out[p.Spec.NodeName]; cur == nil || p.CreationTimestamp.After(cur.CreationTimestamp.Time) {
			out[p.Spec.NodeName] = p
		}
	}
	return out, nil
}

func containerFor(cs []corev1.Container, image string) string {
	for _, c := range cs {
		if c.Image == image {
			return c.Name
		}
	}
	return ""
}

func initExitedZero(p *corev1.Pod, name string) bool {
	if name == "" {
		return false
	}
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name == name && s.State.Terminated != nil && s.State.Terminated.ExitCode == 0 {
			return true
		}
	}
	return false
}

func refs(imgs []userImage) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.Ref
	}
	return out
}

func nodeNames(ctx context.Context, t *testing.T) []string {
	t.Helper()
	var list corev1.NodeList
	if err := env.c.List(ctx, &list); err != nil {
		t.Fatalf("listing nodes: %v", err)
	}
	var out []string
	for _, n := range list.Items {
		out = append(out, n.Name)
	}
	return out
}

// TestSteering: an image already on one node only (pulled there for a pod
// prepuller was told to skip, as for a pod the hub started before prepuller
// was installed) steers the next user pod with that image to that node:
// the webhook adds its preferred node affinity term naming the holder, and
// the real scheduler binds the pod there.
func TestSteering(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ensureUserNamespace(ctx, t)
	img := env.images.users[3].Ref
	first := userPod("dora", img)
	first.Annotations["prepuller.dev/skip"] = "true"
	if err := env.c.Create(ctx, first); err != nil {
		t.Fatalf("creating %s: %v", first.Name, err)
	}
	holder := waitPodRunning(ctx, t, first.Name).Spec.NodeName
	// Wait for the kubelet to list it (status images refresh ~every 30s)
	// and for no other node to have it.
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var n corev1.Node
		if err := env.c.Get(ctx, client.ObjectKey{Name: holder}, &n); err != nil {
			return false, nil
		}
		return nodeHasImage(&n, img), nil
	})
	if err != nil {
		t.Fatalf("%s never listed %s: %v", holder, img, err)
	}
	var list corev1.NodeList
	if err := env.c.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		if list.Items[i].Name != holder && nodeHasImage(&list.Items[i], img) {
			t.Fatalf("%s already on %s too: nothing to steer", img, list.Items[i].Name)
		}
	}

	next := userPod("erin", img)
	if err := env.c.Create(ctx, next); err != nil {
		t.Fatalf("creating %s: %v", next.Name, err)
	}
	got := waitPodScheduled(ctx, t, next.Name)
	steered := got.Annotations["prepuller.dev/steered"]
	if steered == "" || strings.HasPrefix(steered, "not steered") {
		t.Errorf("steered annotation = %q, want a steering decision", steered)
	}
	if !termNames(got, holder) {
		t.Errorf("pod affinity %+v has no preferred term naming %s", got.Spec.Affinity, holder)
	}
	if got.Spec.NodeName != holder {
		t.Errorf("scheduled on %s, want the holder %s", got.Spec.NodeName, holder)
	}
	t.Logf("steered: %q, scheduled on %s", steered, got.Spec.NodeName)
}

// termNames reports whether a preferred node affinity term of the pod
// names node by hostname.
func termNames(p *corev1.Pod, node string) bool {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return false
	}
	for _, term := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		for _, r := range term.Preference.MatchExpressions {
			if r.Key != corev1.LabelHostname || r.Operator != corev1.NodeSelectorOpIn {
				continue
			}
			for _, v := range r.Values {
				if v == node {
					return true
				}
			}
		}
	}
	return false
}
