package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/test/builder"
	"prepuller.dev/prepuller/webhook"
)

// An image on more nodes than a term may name (maxAffinityNodes is 2
// here), and lacking from more than that too: each pod created through the
// API server is steered to a window of 2 holders, its own, and the windows
// of different pods cover every holder.
func TestWindowThroughAPIServer(t *testing.T) {
	ctx := context.Background()
	ensureNamespaces(t, ctx)
	r := startPrepuller(t)
	const wide = "quay.io/example/wide:1"
	var holders []string
	for i := range 8 {
		name := fmt.Sprintf("wide-%d", i)
		holders = append(holders, name)
		createNode(t, ctx, it.MakeNode(name).Image(2e9, wide).Obj())
	}
	for i := range 3 {
		createNode(t, ctx, it.MakeNode(fmt.Sprintf("narrow-%d", i)).Obj())
	}
	poll(t, "inventory to see the nodes", func() bool {
		return r.inv.HolderCount(wide) == 8 && r.inv.EligibleNodes() >= 11
	})
	eligible := r.inv.EligibleNodes()

	covered := map[string]bool{}
	windows := map[string]bool{}
	// 8 holders, 2 names: a window is two holders 4 apart in slot order,
	// so there are 4 windows; 40 pods reach them all but for odds of about
	// 4 in 100,000 (the keys are fixed, so this either always passes or
	// never does).
	for i := range 40 {
		name := fmt.Sprintf("jupyter-wide-%02d", i)
		pod := builder.MakeUserPod(name, hubNS, fmt.Sprintf("user-%02d", i)).Container("notebook", wide).Obj()
		if err := k8s.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		got := &corev1.Pod{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("8/%d nodes hold %s (steered to 2 of them)", eligible, wide); got.Annotations[webhook.AnnotationSteered] != want {
			t.Errorf("%s: annotation %q, want %q", name, got.Annotations[webhook.AnnotationSteered], want)
		}
		var terms []corev1.PreferredSchedulingTerm
		if a := got.Spec.Affinity; a != nil && a.NodeAffinity != nil {
			terms = a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		}
		if len(terms) != 1 {
			t.Fatalf("%s: %d preferred terms, want prepuller's one: %+v", name, len(terms), terms)
		}
		names := terms[0].Preference.MatchExpressions[0].Values
		if len(names) != 2 || terms[0].Preference.MatchExpressions[0].Operator != corev1.NodeSelectorOpIn {
			t.Fatalf("%s: term %+v, want In with 2 names", name, terms[0])
		}
		for _, n := range names {
			if !slices.Contains(holders, n) {
				t.Errorf("%s: %s named but does not hold %s", name, n, wide)
			}
			covered[n] = true
		}
		windows[fmt.Sprint(names)] = true
	}
	if len(covered) != len(holders) {
		t.Errorf("40 pods' windows cover %d of the %d holders: %v", len(covered), len(holders), covered)
	}
	if len(windows) != 4 {
		t.Errorf("40 pods got %d distinct windows, want all 4: %v", len(windows), windows)
	}
}
