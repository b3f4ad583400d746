package puller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/test/cluster"
)

// With the real DaemonSet controller and scheduler, the rendered DaemonSet
// gets a puller pod on every user node (tainted like JupyterHub's), each
// running every image's init container to completion, and a new image rolls
// out to all of them.
func TestDaemonSetRunsOnKwokNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{ControllerManager: true, Scheduler: true, Kwok: true})
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
	taint := corev1.Taint{Key: "hub.jupyter.org/dedicated", Value: "user", Effect: corev1.TaintEffectNoSchedule}
	nodes, err := cluster.CreateNodes(ctx, k, "user", 3, cluster.NodeOptions{
		Labels: map[string]string{"hub.jupyter.org/node-purpose": "user"},
		Taints: []corev1.Taint{taint},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The shared env helpers talk to the envtest API server through k8s;
	// point this test's env at the full control plane instead.
	saved := k8s
	k8s = k
	t.Cleanup(func() { k8s = saved })
	e := newEnv(t)
	e.opts.NodeSelector = map[string]string{"hub.jupyter.org/node-purpose": "user"}
	e.start(startOpts{config: c.Config})

	e.userPod("jupyter-a", "a", "docker.io/jupyter/scipy-notebook:2024")
	want := norm(t, "docker.io/jupyter/scipy-notebook:2024")
	e.waitImages(want)
	waitPulled(t, ctx, k, e, len(nodes), want)

	// A second image rolls out to every node.
	e.userPod("jupyter-b", "b", "docker.io/jupyter/scipy-notebook:2024", "docker.io/jupyter/r-notebook:2024")
	want = norm(t, "docker.io/jupyter/scipy-notebook:2024", "docker.io/jupyter/r-notebook:2024")
	e.waitImages(want)
	waitPulled(t, ctx, k, e, len(nodes), want)
}

// waitPulled waits until the DaemonSet is rolled out and ready on n nodes,
// and every puller pod completed each image's init container.
func waitPulled(t *testing.T, ctx context.Context, k client.Client, e *env, n int, images []string) {
	t.Helper()
	eventually(t, 90*time.Second, func() (bool, string) {
		var ds appsv1.DaemonSet
		if err := k.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.opts.DaemonSetName}, &ds); err != nil {
			return false, err.Error()
		}
		st := ds.Status
		if st.ObservedGeneration != ds.Generation || st.UpdatedNumberScheduled != int32(n) || st.NumberReady != int32(n) {
			return false, fmt.Sprintf("DaemonSet status %+v, want %d updated and ready", st, n)
		}
		var pods corev1.PodList
		if err := k.List(ctx, &pods, client.InNamespace(e.ns), client.MatchingLabelsSelector{Selector: puller.PodSelector(e.opts)}); err != nil {
			return false, err.Error()
		}
		done := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			byImage := map[string]bool{}
			for _, s := range p.Status.InitContainerStatuses {
				if s.State.Terminated != nil && s.State.Terminated.ExitCode == 0 {
					for _, c := range p.Spec.InitContainers {
						if c.Name == s.Name {
							byImage[c.Image] = true
						}
					}
				}
			}
			all := true
			for _, img := range images {
				all = all && byImage[img]
			}
			if all && p.Status.Phase == corev1.PodRunning {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d puller pods pulled %v", done, n, images)
	})
}
