package inventory

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
)

// The Pod informer carries user pods too; only the puller's pods count.
func TestPodHandlerFilters(t *testing.T) {
	opts := Options{PullerNamespace: ns, PullerPodSelector: labels.SelectorFromSet(labels.Set{"app.kubernetes.io/name": "prepuller-puller"})}
	puller := it.MakePullerPod("p", ns, "a").Init("i", scipy, it.Exited(0)).Obj()
	relabelled := puller.DeepCopy()
	relabelled.Labels = map[string]string{"app.kubernetes.io/name": "something-else"}
	userPod := it.MakePullerPod("u", "hub", "a").Init("i", rlatest, it.Exited(0)).Obj()

	cases := map[string]struct {
		events func(h toolscache.ResourceEventHandler)
		want   []string // images held on node a
	}{
		"puller pod counts": {
			events: func(h toolscache.ResourceEventHandler) { h.OnAdd(puller, false) },
			want:   []string{scipy},
		},
		"same labels in another namespace do not": {
			events: func(h toolscache.ResourceEventHandler) { h.OnAdd(userPod, false) },
		},
		"relabelled out of the selector is forgotten": {
			events: func(h toolscache.ResourceEventHandler) {
				h.OnAdd(puller, false)
				h.OnUpdate(puller, relabelled)
			},
		},
		"deletion seen as a tombstone": {
			events: func(h toolscache.ResourceEventHandler) {
				h.OnAdd(puller, false)
				h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "prepuller/p", Obj: puller})
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			inv := New()
			NodeHandler(inv).OnAdd(it.MakeNode("a").Obj(), false)
			tc.events(PodHandler(inv, opts))
			var got []string
			for _, img := range inv.Images() {
				if inv.HolderCount(img) > 0 {
					got = append(got, img)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("held images (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkInitialSync is a cache's initial list: n nodes, 50 images each
// (five names for some), added one by one.
func BenchmarkInitialSync(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		nodes := make([]*corev1.Node, n)
		for i := range nodes {
			w := it.MakeNode(fmt.Sprintf("node-%05d", i))
			for k := range 50 {
				w.Image(int64(k), fmt.Sprintf("registry.example.org/pool/image-%d:v1", (i*7+k)%500),
					fmt.Sprintf("registry.example.org/pool/image-%d@sha256:%064d", (i*7+k)%500, (i*7+k)%500))
			}
			nodes[i] = w.Obj()
		}
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				inv := New()
				for _, nd := range nodes {
					inv.UpsertNode(nd)
				}
			}
		})
	}
}
