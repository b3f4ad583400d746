package puller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/placement"
	"prepuller.dev/prepuller/puller/render"
	"prepuller.dev/prepuller/test/cluster"
)

// In demand mode, with the real DaemonSet controller and scheduler, each
// learned image is placed on as many nodes as its share of the demand asks
// for, in the slots of the placed puller pods, and a new image moves into
// a slot in place: no puller pod is recreated and the puller DaemonSet is
// not written.
func TestDemandPlacement(t *testing.T) {
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
	nodes, err := cluster.CreateNodes(ctx, k, "user", 4, cluster.NodeOptions{
		Labels: map[string]string{"hub.jupyter.org/node-purpose": "user"},
		Taints: []corev1.Taint{taint},
	})
	if err != nil {
		t.Fatal(err)
	}
	saved := k8s
	k8s = k
	t.Cleanup(func() { k8s = saved })
	e := newEnv(t)
	e.opts.Placement.Mode = placement.ModeDemand
	e.opts.Placement.SlotsPerNode = 2
	e.opts.Placement.Headroom = 1
	e.start(startOpts{config: c.Config})

	a, b, cc := "docker.io/jupyter/scipy-notebook:2024", "docker.io/jupyter/r-notebook:2024", "docker.io/jupyter/julia-notebook:2024"
	for i := range 3 {
		e.userPod(fmt.Sprintf("jupyter-a%d", i), fmt.Sprintf("a%d", i), a)
	}
	e.userPod("jupyter-b", "b", b)
	// 4 nodes, headroom 1: a has 3 of the 4 running pods, so 3 nodes;
	// b one.
	want := map[string]int{norm(t, a)[0]: 3, norm(t, b)[0]: 1}
	first := waitPlaced(t, ctx, k, e, len(nodes), want)

	main, err := e.daemonSet()
	if err != nil || main == nil {
		t.Fatalf("puller DaemonSet: %v, %v", main, err)
	}
	if got := render.Images(main); len(got) != 0 {
		t.Errorf("puller DaemonSet pulls %v in demand mode, want only the configured images (none)", got)
	}
	var placed appsv1.DaemonSet
	if err := k.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: puller.PlacedName(e.opts)}, &placed); err != nil {
		t.Fatal(err)
	}
	if got := placed.Spec.UpdateStrategy.Type; got != appsv1.OnDeleteDaemonSetStrategyType {
		t.Errorf("placed DaemonSet update strategy %s, want OnDelete", got)
	}

	// A third image: 5 running pods, so a keeps ceil(4*3/5) = 3 nodes,
	// b and c get one each, in place.
	e.userPod("jupyter-c", "c", cc)
	want[norm(t, cc)[0]] = 1
	second := waitPlaced(t, ctx, k, e, len(nodes), want)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("placed puller pods were recreated (node -> pod UID, -before +after):\n%s", diff)
	}
	after, err := e.daemonSet()
	if err != nil || after == nil {
		t.Fatalf("puller DaemonSet: %v, %v", after, err)
	}
	if after.Generation != main.Generation {
		t.Errorf("puller DaemonSet generation %d -> %d: a learned image rolled it", main.Generation, after.Generation)
	}
	if n := e.counter("prepuller_puller_placed_writes_total", map[string]string{"op": "pod_patch"}); n < 1 {
		t.Errorf("pod_patch writes = %v, want at least 1", n)
	}
	if n := e.counter("prepuller_puller_placed_writes_total", map[string]string{"op": "pod_delete"}); n != 0 {
		t.Errorf("pod_delete writes = %v, want 0", n)
	}
}

// waitPlaced waits until every one of n nodes has a placed puller pod and
// the slots hold each image on the wanted number of nodes; it returns each
// node's pod UID.
func waitPlaced(t *testing.T, ctx context.Context, k client.Client, e *env, n int, want map[string]int) map[string]types.UID {
	t.Helper()
	var uids map[string]types.UID
	eventually(t, 90*time.Second, func() (bool, string) {
		var pods corev1.PodList
		if err := k.List(ctx, &pods, client.InNamespace(e.ns), client.MatchingLabels{"prepuller.dev/puller": puller.PlacedName(e.opts)}); err != nil {
			return false, err.Error()
		}
		uids = map[string]types.UID{}
		got := map[string]int{}
		for _, p := range pods.Items {
			if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
				continue
			}
			uids[p.Spec.NodeName] = p.UID
			for _, img := range render.SlotImages(&p.Spec, e.opts.PauseImage) {
				if img != "" {
					got[img]++
				}
			}
		}
		if len(uids) != n {
			return false, fmt.Sprintf("%d placed puller pods on nodes, want %d", len(uids), n)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return false, "nodes per image (-want +got):\n" + diff
		}
		return true, ""
	})
	return uids
}
