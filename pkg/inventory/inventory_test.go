package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
)

const (
	ns      = "prepuller"
	scipy   = "docker.io/jupyter/scipy-notebook:2024"
	scipyD  = "docker.io/jupyter/scipy-notebook@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	rlatest = "docker.io/rocker/binder:latest"
)

// imageState is what a test can observe about one image.
type imageState struct {
	Holders []string
	Size    int64 // -1 when unknown
}

type state struct {
	Nodes, Eligible int
	Images          map[string]imageState
}

func observe(inv *Inventory) state {
	s := state{Nodes: inv.Nodes(), Eligible: inv.EligibleNodes(), Images: map[string]imageState{}}
	for _, img := range inv.Images() {
		st := imageState{Holders: inv.Holders(img), Size: -1}
		if size, ok := inv.SizeOf(img); ok {
			st.Size = size
		}
		if n := inv.HolderCount(img); n != len(st.Holders) {
			panic("HolderCount disagrees with Holders")
		}
		s.Images[img] = st
	}
	return s
}

func TestInventoryEvents(t *testing.T) {
	exited0 := it.Exited(0)
	cases := map[string]struct {
		opts   *Options
		events []func(*Inventory)
		want   state
	}{
		"status images are normalized, every name counts": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(5e9, scipyD, "jupyter/scipy-notebook:2024").Image(1e8, "rocker/binder").Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{
				scipy:   {Holders: []string{"a"}, Size: 5e9},
				scipyD:  {Holders: []string{"a"}, Size: 5e9},
				rlatest: {Holders: []string{"a"}, Size: 1e8},
			}},
		},
		"invalid names are skipped": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(10, "Not/Valid:Ref!", "rocker/binder").Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{rlatest: {Holders: []string{"a"}, Size: 10}}},
		},
		"image dropped from status loses its holder": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(10, "rocker/binder").Obj()),
				up(it.MakeNode("b").Image(10, "rocker/binder").Obj()),
				up(it.MakeNode("a").Image(20, scipy).Obj()),
			},
			want: state{Nodes: 2, Eligible: 2, Images: map[string]imageState{
				rlatest: {Holders: []string{"b"}, Size: 10},
				scipy:   {Holders: []string{"a"}, Size: 20},
			}},
		},
		"unchanged update keeps state": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(10, "rocker/binder").Obj()),
				up(it.MakeNode("a").Image(10, "rocker/binder").Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{rlatest: {Holders: []string{"a"}, Size: 10}}},
		},
		"cordoned, NotReady and unnamed nodes hold but are not eligible": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(10, "rocker/binder").Unschedulable().Obj()),
				up(it.MakeNode("b").Image(10, "rocker/binder").Ready(corev1.ConditionUnknown).Obj()),
				up(it.MakeNode("c").Image(10, "rocker/binder").Label(corev1.LabelHostname, "").Obj()),
				up(it.MakeNode("d").Image(10, "rocker/binder").Obj()),
			},
			want: state{Nodes: 4, Eligible: 1, Images: map[string]imageState{rlatest: {Holders: []string{"d"}, Size: 10}}},
		},
		"uncordoned node becomes a holder": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(10, "rocker/binder").Unschedulable().Obj()),
				up(it.MakeNode("a").Image(10, "rocker/binder").Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{rlatest: {Holders: []string{"a"}, Size: 10}}},
		},
		"eligible node selector": {
			opts: &Options{EligibleNodeSelector: labels.SelectorFromSet(labels.Set{"hub.jupyter.org/node-purpose": "user"})},
			events: []func(*Inventory){
				up(it.MakeNode("core").Image(10, "rocker/binder").Obj()),
				up(it.MakeNode("user").Label("hub.jupyter.org/node-purpose", "user").Image(10, "rocker/binder").Obj()),
			},
			want: state{Nodes: 2, Eligible: 1, Images: map[string]imageState{rlatest: {Holders: []string{"user"}, Size: 10}}},
		},
		"deleted node is forgotten": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(10, "rocker/binder").Obj()),
				up(it.MakeNode("b").Image(10, scipy).Obj()),
				del("a"),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{scipy: {Holders: []string{"b"}, Size: 10}}},
		},
		"puller pod sees past the status cap: only init containers that exited 0": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Obj()),
				upPod(it.MakePullerPod("p", ns, "a").
					Init("ok", "jupyter/scipy-notebook:2024", exited0).
					Init("failed", "rocker/binder", it.Exited(1)).
					Init("running", "quay.io/x/y:1", it.Running()).
					Init("waiting", "quay.io/x/z:1", nil).Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{scipy: {Holders: []string{"a"}, Size: -1}}},
		},
		"puller pod and status agree on one image": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Image(7, scipy).Obj()),
				upPod(it.MakePullerPod("p", ns, "a").Init("i", scipy, exited0).Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{scipy: {Holders: []string{"a"}, Size: 7}}},
		},
		"deleted puller pod is forgotten": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Obj()),
				upPod(it.MakePullerPod("p", ns, "a").Init("i", scipy, exited0).Obj()),
				delPod("p"),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{}},
		},
		"puller pod before its node": {
			events: []func(*Inventory){
				upPod(it.MakePullerPod("p", ns, "late").Init("i", scipy, exited0).Obj()),
				up(it.MakeNode("late").Obj()),
			},
			want: state{Nodes: 1, Eligible: 1, Images: map[string]imageState{scipy: {Holders: []string{"late"}, Size: -1}}},
		},
		"puller pod on an unknown node counts no holder": {
			events: []func(*Inventory){
				upPod(it.MakePullerPod("p", ns, "ghost").Init("i", scipy, exited0).Obj()),
			},
			want: state{Images: map[string]imageState{scipy: {Holders: []string{}, Size: -1}}},
		},
		"node deleted under a puller pod keeps nothing eligible": {
			events: []func(*Inventory){
				up(it.MakeNode("a").Obj()),
				upPod(it.MakePullerPod("p", ns, "a").Init("i", scipy, exited0).Obj()),
				del("a"),
				delPod("p"),
			},
			want: state{Images: map[string]imageState{}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			inv := New()
			if tc.opts != nil {
				inv.opts = *tc.opts
			}
			for _, ev := range tc.events {
				ev(inv)
			}
			if diff := cmp.Diff(tc.want, observe(inv)); diff != "" {
				t.Errorf("inventory (-want +got):\n%s", diff)
			}
		})
	}
}

func up(n *corev1.Node) func(*Inventory)   { return func(inv *Inventory) { inv.UpsertNode(n) } }
func del(name string) func(*Inventory)     { return func(inv *Inventory) { inv.DeleteNode(name) } }
func upPod(p *corev1.Pod) func(*Inventory) { return func(inv *Inventory) { inv.UpsertPullerPod(p) } }
func delPod(name string) func(*Inventory) {
	return func(inv *Inventory) { inv.DeletePullerPod(ns + "/" + name) }
}

func TestPresence(t *testing.T) {
	// Ten eligible nodes n0..n9; "few" is on 2, "most" on 8, "half" on 5,
	// "all" on 10. One cordoned node holds everything and never counts.
	inv := New()
	for i := range 10 {
		w := it.MakeNode(nodeName(i)).Image(1, "all")
		if i < 2 {
			w.Image(1, "few")
		}
		if i < 8 {
			w.Image(1, "most")
		}
		if i < 5 {
			w.Image(1, "half")
		}
		inv.UpsertNode(w.Obj())
	}
	inv.UpsertNode(it.MakeNode("cordoned").Unschedulable().Image(1, "few", "most", "half", "all", "cordoned-only").Obj())

	cases := map[string]struct {
		image string
		max   int
		key   uint64
		want  Presence
	}{
		"unknown image":           {image: "docker.io/library/nope:latest", max: 3, want: Presence{Eligible: 10}},
		"held only by ineligible": {image: "docker.io/library/cordoned-only:latest", max: 3, want: Presence{Eligible: 10}},
		"held everywhere":         {image: "docker.io/library/all:latest", max: 3, want: Presence{Eligible: 10, Holding: 10}},
		"few holders are named": {image: "docker.io/library/few:latest", max: 3,
			want: Presence{Eligible: 10, Holding: 2, Hostnames: []string{"n0", "n1"}}},
		"most: the lacking nodes are named": {image: "docker.io/library/most:latest", max: 3,
			want: Presence{Eligible: 10, Holding: 8, Hostnames: []string{"n8", "n9"}, Complement: true}},
		// Offsets floor(j*5/3): 0, 1 and 3 holders past the start.
		"half: too many either way, a window of holders": {image: "docker.io/library/half:latest", max: 3,
			want: Presence{Eligible: 10, Holding: 5, Hostnames: []string{"n0", "n1", "n3"}, Window: true}},
		"the window starts where the key says": {image: "docker.io/library/half:latest", max: 3, key: 1,
			want: Presence{Eligible: 10, Holding: 5, Hostnames: []string{"n1", "n2", "n4"}, Window: true}},
		"the window wraps around": {image: "docker.io/library/half:latest", max: 3, key: 5 + 4,
			want: Presence{Eligible: 10, Holding: 5, Hostnames: []string{"n0", "n2", "n4"}, Window: true}},
		"no names at all (max 0)": {image: "docker.io/library/half:latest", max: 0,
			want: Presence{Eligible: 10, Holding: 5}},
		"holders exactly at the bound": {image: "docker.io/library/half:latest", max: 5,
			want: Presence{Eligible: 10, Holding: 5, Hostnames: []string{"n0", "n1", "n2", "n3", "n4"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, inv.Presence(tc.image, tc.max, tc.key)); diff != "" {
				t.Errorf("Presence (-want +got):\n%s", diff)
			}
		})
	}
}

func nodeName(i int) string { return "n" + string(rune('0'+i)) }

func TestSlotsAreReused(t *testing.T) {
	inv := New()
	for round := range 3 {
		for i := range 10 {
			inv.UpsertNode(it.MakeNode(nodeName(i)).Image(int64(round+1), "few").Obj())
		}
		for i := range 10 {
			inv.DeleteNode(nodeName(i))
		}
	}
	if len(inv.slots) != 10 {
		t.Errorf("slots grew to %d over 3 rounds of 10 nodes; want 10", len(inv.slots))
	}
	if diff := cmp.Diff(state{Images: map[string]imageState{}}, observe(inv)); diff != "" {
		t.Errorf("after deleting every node (-want +got):\n%s", diff)
	}
}

func TestStripNode(t *testing.T) {
	full := it.MakeNode("a").Label("zone", "z1").Image(42, "x", "y").Unschedulable().Obj()
	full.Annotations = map[string]string{"big": "annotation"}
	full.Status.Conditions = append(full.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Message: "m"})
	full.Status.Conditions[0].Message = "kubelet is posting ready status"
	full.Spec.PodCIDR = "10.0.0.0/24"
	full.Status.Capacity = corev1.ResourceList{}
	full.Status.NodeInfo.KubeletVersion = "v1.37.2"

	got, err := StripNode(full)
	if err != nil {
		t.Fatal(err)
	}
	want := it.MakeNode("a").Label("zone", "z1").Image(42, "x", "y").Unschedulable().Obj()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StripNode (-want +got):\n%s", diff)
	}
	if got, _ := StripNode("tombstone"); got != "tombstone" {
		t.Errorf("StripNode changed a non-Node object: %v", got)
	}
}
