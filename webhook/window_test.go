package webhook

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

// halfHolders are the nodes of testInventory holding half, in slot order.
var halfHolders = []string{"n0", "n1", "n2", "n3", "n4"}

// windowOf is the window a pod named name gets, restated as the oracle:
// from its key modulo the holder count, in slot order and around the end,
// the holders at offsets floor(j*len/max) for j < max, sorted.
func windowOf(namespace, name string, holders []string, max int) []string {
	p := &podView{}
	p.Metadata.Name = name
	start := int(steerKey(namespace, p) % uint64(len(holders)))
	out := make([]string, 0, max)
	for j := range max {
		out = append(out, holders[(start+j*len(holders)/max)%len(holders)])
	}
	slices.Sort(out)
	return out
}

// Pods of different users get windows spread over every holder, each one
// about as often as the others; the pod's own terms stay as they were.
func TestWindowSpreadsUsers(t *testing.T) {
	h := newTestHandler(t, testInventory(), &wt.Recorder{})
	userTerm := corev1.PreferredSchedulingTerm{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: "hub.jupyter.org/node-purpose", Operator: corev1.NodeSelectorOpIn, Values: []string{"user"}},
	}}}
	const pods, max = 500, 3
	chosen := map[string]int{}
	for i := range pods {
		name := fmt.Sprintf("jupyter-user-%d", i)
		pod := builder.MakeUserPod(name, hubNS, fmt.Sprintf("user-%d", i)).Container("notebook", "quay.io/x/half:1").
			Affinity(steeredTo(userTerm)).Obj()
		resp := h.Handle(context.Background(), review(t, pod))
		got := apply(t, pod, resp.Patches).Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		if len(got) != 2 || !isOwnTerm(&got[1]) {
			t.Fatalf("%s: terms %+v, want the user's then ours", name, got)
		}
		if got[0].Weight != userTerm.Weight || got[0].Preference.MatchExpressions[0].Key != userTerm.Preference.MatchExpressions[0].Key {
			t.Fatalf("%s: the user's term changed: %+v", name, got[0])
		}
		names := got[1].Preference.MatchExpressions[0].Values
		if len(names) != max {
			t.Fatalf("%s: %d names, want %d", name, len(names), max)
		}
		for _, n := range names {
			if !slices.Contains(halfHolders, n) {
				t.Fatalf("%s: %s named but does not hold the image", name, n)
			}
			chosen[n]++
		}
	}
	mean := pods * max / len(halfHolders)
	for _, n := range halfHolders {
		if c := chosen[n]; c < mean/2 || c > mean*3/2 {
			t.Errorf("%s chosen for %d of %d pods, want about %d: %v", n, c, pods, mean, chosen)
		}
	}
}

// A pod named only by generateName is keyed by its user too, so two users'
// servers created at once get windows of their own.
func TestSteerKey(t *testing.T) {
	view := func(name, generateName, user string) *podView {
		p := &podView{}
		p.Metadata.Name, p.Metadata.GenerateName = name, generateName
		p.Metadata.Annotations = map[string]string{userpod.AnnotationUsername: user}
		return p
	}
	keys := map[string]uint64{
		"named alice":            steerKey(hubNS, view("jupyter-alice", "", "alice")),
		"named bob":              steerKey(hubNS, view("jupyter-bob", "", "bob")),
		"named alice, elsewhere": steerKey("other", view("jupyter-alice", "", "alice")),
		"generated alice":        steerKey(hubNS, view("", "jupyter-", "alice")),
		"generated bob":          steerKey(hubNS, view("", "jupyter-", "bob")),
	}
	seen := map[uint64]string{}
	for name, k := range keys {
		if other, ok := seen[k]; ok {
			t.Errorf("%s and %s share key %d", name, other, k)
		}
		seen[k] = name
	}
	if a, b := steerKey(hubNS, view("jupyter-alice", "", "alice")), steerKey(hubNS, view("jupyter-alice", "", "alice")); a != b {
		t.Errorf("the same pod keyed %d then %d", a, b)
	}
	// With only the label, the user is read from it as userpod.User would.
	labelled := &podView{}
	labelled.Metadata.GenerateName = "jupyter-"
	labelled.Metadata.Labels = map[string]string{userpod.LabelUsername: "alice"}
	if got, want := steerKey(hubNS, labelled), keys["generated alice"]; got != want {
		t.Errorf("generated alice by label keyed %d, by annotation %d", got, want)
	}
	// Keying runs in the admission path: it must not allocate, even for a
	// generated pod with no user name.
	// (A prefix past 32 bytes: shorter concatenations stay on the stack.)
	for _, user := range []string{"alice", ""} {
		generated := view("", "jupyter-a-generated-name-prefix-longer-than-32-bytes-", user)
		if n := testing.AllocsPerRun(100, func() { steerKey(hubNS, generated) }); n != 0 {
			t.Errorf("keying a generated pod of user %q allocated %v times", user, n)
		}
	}
}
