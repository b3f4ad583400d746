package inventory

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
)

const (
	course  = "docker.io/library/course:latest"
	popular = "docker.io/library/popular:latest"
)

// t0 is the clock of busyInventory.
var t0 = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

// busyInventory has ten eligible nodes n0..n9; n0..n3 hold the course
// image, n0..n7 the popular one. Its clock reads t0.
func busyInventory() *Inventory {
	inv := New()
	inv.clock = clocktesting.NewFakePassiveClock(t0)
	for i := range 10 {
		w := it.MakeNode(nodeName(i))
		if i < 4 {
			w.Image(1, course)
		}
		if i < 8 {
			w.Image(1, popular)
		}
		inv.UpsertNode(w.Obj())
	}
	return inv
}

// run puts n user pods of image on node, named after the node, created a
// minute ago.
func run(inv *Inventory, node, image string, n int) {
	for i := range n {
		inv.UpsertUserPod(fmt.Sprintf("hub/%s-%s-%d", node, image, i), node, image, t0.Add(-time.Minute))
	}
}

// A holder that took ceil((r+1)/E)+2 of the image's r recent arrivals is
// left out of the pod's term; when every holder is, the term keeps the pod
// off them.
func TestPresenceLeavesOutBusyHolders(t *testing.T) {
	cases := map[string]struct {
		image string         // course unless set
		pods  map[string]int // node -> pods of the image, created a minute ago
		old   map[string]int // node -> pods of the image, created before the window
		max   int
		want  Presence
	}{
		"no users: every holder named": {
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Hostnames: []string{"n0", "n1", "n2", "n3"}},
		},
		// 3 pods: limit ceil(4/10)+2 = 3.
		"a holder at the limit is left out": {
			pods: map[string]int{"n0": 3},
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Busy: 1, Hostnames: []string{"n1", "n2", "n3"}},
		},
		"below the limit it is named": {
			pods: map[string]int{"n0": 2},
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Hostnames: []string{"n0", "n1", "n2", "n3"}},
		},
		// 9 pods: limit ceil(10/10)+2 = 3; n4 does not hold the image.
		"only holders count as busy": {
			pods: map[string]int{"n0": 3, "n1": 2, "n4": 4},
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Busy: 1, Hostnames: []string{"n1", "n2", "n3"}},
		},
		// 12 pods: limit ceil(13/10)+2 = 4.
		"the limit rises with the image's users": {
			pods: map[string]int{"n0": 3, "n1": 3, "n2": 3, "n3": 3},
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Hostnames: []string{"n0", "n1", "n2", "n3"}},
		},
		// 17 pods: limit ceil(18/10)+2 = 4.
		"every holder busy: they are named, to be avoided": {
			pods: map[string]int{"n0": 4, "n1": 4, "n2": 4, "n3": 4, "n5": 1},
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Busy: 4, Crowded: true, Complement: true, Hostnames: []string{"n0", "n1", "n2", "n3"}},
		},
		// Naming only some busy holders would make the rest the most
		// preferred nodes: the 2 nodes lacking the image are named instead.
		// 120 pods: limit ceil(121/10)+2 = 15.
		"more busy holders than names: the lacking nodes are preferred": {
			image: popular,
			pods:  map[string]int{"n0": 15, "n1": 15, "n2": 15, "n3": 15, "n4": 15, "n5": 15, "n6": 15, "n7": 15},
			max:   3,
			want:  Presence{Eligible: 10, Holding: 8, Busy: 8, Crowded: true, Hostnames: []string{"n8", "n9"}},
		},
		// Offsets floor(j*6/3) = 0, 2, 4 over the 6 lacking nodes.
		"and a window of them past the bound": {
			pods: map[string]int{"n0": 4, "n1": 4, "n2": 4, "n3": 4, "n5": 1},
			max:  3,
			want: Presence{Eligible: 10, Holding: 4, Busy: 4, Crowded: true, Window: true, Hostnames: []string{"n4", "n6", "n8"}},
		},
		"no names at all (max 0)": {
			pods: map[string]int{"n0": 4, "n1": 4, "n2": 4, "n3": 4, "n5": 1},
			want: Presence{Eligible: 10, Holding: 4, Busy: 4},
		},
		// 7 of 8 holders free, 3 nodes lack it or are busy: those are named.
		"complement: busy holders are named with the lacking nodes": {
			image: popular,
			pods:  map[string]int{"n2": 3},
			max:   3,
			want: Presence{Eligible: 10, Holding: 8, Busy: 1, Complement: true,
				Hostnames: []string{"n2", "n8", "n9"}},
		},
		"arrivals before the burst window leave a holder free": {
			old:  map[string]int{"n0": 5},
			max:  5,
			want: Presence{Eligible: 10, Holding: 4, Hostnames: []string{"n0", "n1", "n2", "n3"}},
		},
		// 2 of 3 free holders, offsets floor(j*3/2) = 0, 1 from the start.
		"window over the free holders": {
			pods: map[string]int{"n1": 3},
			max:  2,
			want: Presence{Eligible: 10, Holding: 4, Busy: 1, Window: true, Hostnames: []string{"n0", "n2"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			inv := busyInventory()
			img := tc.image
			if img == "" {
				img = course
			}
			for node, n := range tc.pods {
				run(inv, node, img, n)
			}
			for node, n := range tc.old {
				for i := range n {
					inv.UpsertUserPod(fmt.Sprintf("hub/old-%s-%d", node, i), node, img, t0.Add(-2*DefaultBurstWindow))
				}
			}
			if diff := cmp.Diff(tc.want, inv.Presence(img, tc.max, 0)); diff != "" {
				t.Errorf("Presence (-want +got):\n%s", diff)
			}
		})
	}
}

// bind records a pod created a minute before busyInventory's clock.
func bind(inv *Inventory, key, node, image string) {
	inv.UpsertUserPod(key, node, image, t0.Add(-time.Minute))
}

// The counts follow pods as they are bound, move, finish and go, count
// only within the burst window, and no image keeps a tally once its last
// pod is gone.
func TestUserPodCounts(t *testing.T) {
	type counts struct{ Total, Most int }
	steps := map[string]struct {
		do   func(*Inventory)
		want counts
	}{
		"unbound pods do not count": {
			do:   func(inv *Inventory) { bind(inv, "hub/a", "", course) },
			want: counts{},
		},
		"bound pods do": {
			do: func(inv *Inventory) {
				bind(inv, "hub/a", "n0", course)
				bind(inv, "hub/b", "n0", course)
				bind(inv, "hub/c", "n1", course)
			},
			want: counts{Total: 3, Most: 2},
		},
		"an update that changes nothing counts once": {
			do: func(inv *Inventory) {
				bind(inv, "hub/a", "n0", course)
				bind(inv, "hub/a", "n0", course)
			},
			want: counts{Total: 1, Most: 1},
		},
		"a pod that moves to another image leaves the first": {
			do: func(inv *Inventory) {
				bind(inv, "hub/a", "n0", course)
				bind(inv, "hub/a", "n0", scipy)
			},
			want: counts{},
		},
		"finished (empty image) and deleted pods are forgotten": {
			do: func(inv *Inventory) {
				bind(inv, "hub/a", "n0", course)
				bind(inv, "hub/b", "n0", course)
				bind(inv, "hub/a", "n0", "")
				inv.DeleteUserPod("hub/b")
				inv.DeleteUserPod("hub/never-seen")
			},
			want: counts{},
		},
		"arrivals before the burst window do not count": {
			do: func(inv *Inventory) {
				inv.UpsertUserPod("hub/old", "n0", course, t0.Add(-DefaultBurstWindow-time.Second))
				inv.UpsertUserPod("hub/edge", "n0", course, t0.Add(-DefaultBurstWindow))
				bind(inv, "hub/new", "n0", course)
			},
			want: counts{Total: 2, Most: 2},
		},
		"a pod created out of order counts in its place": {
			do: func(inv *Inventory) {
				bind(inv, "hub/a", "n0", course)
				inv.UpsertUserPod("hub/b", "n1", course, t0.Add(-5*time.Minute))
				inv.UpsertUserPod("hub/old", "n1", course, t0.Add(-time.Hour))
				bind(inv, "hub/c", "n1", course)
			},
			want: counts{Total: 3, Most: 2},
		},
		"the most per node falls when the busiest node empties": {
			do: func(inv *Inventory) {
				run(inv, "n0", course, 3)
				run(inv, "n1", course, 1)
				for i := range 3 {
					inv.DeleteUserPod(fmt.Sprintf("hub/n0-%s-%d", course, i))
				}
			},
			want: counts{Total: 1, Most: 1},
		},
	}
	for name, tc := range steps {
		t.Run(name, func(t *testing.T) {
			inv := busyInventory()
			tc.do(inv)
			var got counts
			got.Total, got.Most = inv.RecentUserPods(course)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("UserPods (-want +got):\n%s", diff)
			}
			if _, ok := inv.usage[course]; tc.want == (counts{}) && ok {
				t.Errorf("a tally of %s left behind", course)
			}
		})
	}
}

func TestUserPodHandler(t *testing.T) {
	scope, err := userpod.DefaultOptions().Scope(ns)
	if err != nil {
		t.Fatal(err)
	}
	opts := UserPodOptions{Scope: scope, SteeringContainer: "notebook"}
	bound := builder.MakeUserPod("jupyter-a", "hub", "a").Container("init", "busybox").Container("notebook", "course").Node("n0").Obj()
	bound.CreationTimestamp = metav1.NewTime(t0)
	cases := map[string]struct {
		events func(h toolscache.ResourceEventHandler)
		want   int // course pods counted
	}{
		"bound user pod counts for its notebook container's image": {
			events: func(h toolscache.ResourceEventHandler) { h.OnAdd(bound, false) },
			want:   1,
		},
		"counted after the transform": {
			events: func(h toolscache.ResourceEventHandler) {
				stripped, err := StripUserPod(bound)
				if err != nil {
					t.Fatal(err)
				}
				h.OnAdd(stripped, false)
			},
			want: 1,
		},
		"pending pod does not": {
			events: func(h toolscache.ResourceEventHandler) {
				p := bound.DeepCopy()
				p.Spec.NodeName = ""
				h.OnAdd(p, false)
			},
		},
		"opted-out pod does not": {
			events: func(h toolscache.ResourceEventHandler) {
				p := bound.DeepCopy()
				p.Annotations[userpod.AnnotationSkip] = "true"
				stripped, _ := StripUserPod(p)
				h.OnAdd(stripped, false)
			},
		},
		"finished pod is forgotten": {
			events: func(h toolscache.ResourceEventHandler) {
				h.OnAdd(bound, false)
				done := bound.DeepCopy()
				done.Status.Phase = corev1.PodSucceeded
				h.OnUpdate(bound, done)
			},
		},
		"deletion seen as a tombstone": {
			events: func(h toolscache.ResourceEventHandler) {
				h.OnAdd(bound, false)
				h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "hub/jupyter-a", Obj: bound})
			},
		},
		"invalid image is not counted": {
			events: func(h toolscache.ResourceEventHandler) {
				p := bound.DeepCopy()
				p.Spec.Containers[1].Image = "UPPER/Case:!"
				h.OnAdd(p, false)
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			inv := busyInventory()
			tc.events(UserPodHandler(inv, opts))
			if got, _ := inv.RecentUserPods(course); got != tc.want {
				t.Errorf("course pods counted: %d, want %d", got, tc.want)
			}
			if tc.want == 0 && len(inv.usage) != 0 {
				t.Errorf("counted under another image: %v", inv.usage)
			}
		})
	}
}

func TestStripUserPod(t *testing.T) {
	p := builder.MakeUserPod("jupyter-a", "hub", "a").
		Annotation(userpod.AnnotationSkip, "false").Annotation("big", "x").
		InitContainer("block", "busybox").Container("notebook", "course").Node("n0").Phase(corev1.PodRunning).Obj()
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
	p.CreationTimestamp, p.UID, p.ResourceVersion = metav1.NewTime(t0), "uid-1", "42"
	p.Finalizers = []string{"x"}
	got, err := StripUserPod(p)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{TypeMeta: p.TypeMeta}
	want.Name, want.Namespace, want.Labels = "jupyter-a", "hub", p.Labels
	want.CreationTimestamp, want.UID, want.ResourceVersion = metav1.NewTime(t0), "uid-1", "42"
	want.Annotations = map[string]string{userpod.AnnotationSkip: "false"}
	want.Spec.NodeName = "n0"
	want.Spec.Containers = []corev1.Container{{Name: "notebook", Image: "course"}}
	want.Status.Phase = corev1.PodRunning
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StripUserPod (-want +got):\n%s", diff)
	}
	if tomb := (toolscache.DeletedFinalStateUnknown{Key: "k"}); !cmp.Equal(any(tomb), must(StripUserPod(tomb))) {
		t.Errorf("a tombstone must pass through unchanged")
	}
}

func must(v any, err error) any {
	if err != nil {
		panic(err)
	}
	return v
}
