package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/test/builder"
	"prepuller.dev/prepuller/webhook"
)

// Pods bound to a holder through the API server make it busy for their
// image (3 of 3 recent arrivals: ceil(4/n)+2 = 3 on n >= 4 eligible nodes); the
// webhook, which learns that from its watch of user pods, leaves it out of
// the next pod's term, and names it again once those pods are gone.
func TestBusyHolderThroughAPIServer(t *testing.T) {
	ctx := context.Background()
	ensureNamespaces(t, ctx)
	r := startPrepuller(t)
	const img = "quay.io/example/course:1"
	nodes := []*corev1.Node{it.MakeNode("course-lacks").Obj()}
	for i := range 3 {
		nodes = append(nodes, it.MakeNode(fmt.Sprintf("course-%d", i)).Image(2e9, img).Obj())
	}
	var late []*corev1.Pod
	// Leave the API server as it was: other tests count its nodes.
	t.Cleanup(func() {
		for _, n := range nodes {
			if err := k8s.Delete(ctx, n); err != nil {
				t.Errorf("deleting node %s: %v", n.Name, err)
			}
		}
		for _, p := range late {
			if err := k8s.Delete(ctx, p, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
				t.Errorf("deleting pod %s: %v", p.Name, err)
			}
		}
	})
	for _, n := range nodes {
		createNode(t, ctx, n)
	}
	poll(t, "inventory to see the nodes", func() bool {
		return r.inv.HolderCount(img) == 3 && r.inv.EligibleNodes() >= 4
	})

	var crowd []*corev1.Pod
	for i := range 3 {
		p := builder.MakeUserPod(fmt.Sprintf("jupyter-course-%d", i), hubNS, fmt.Sprintf("student-%d", i)).
			Container("notebook", img).Node("course-0").Obj()
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		crowd = append(crowd, p)
		late = append(late, p) // deleted again by the cleanup if the test stops early
	}
	poll(t, "the watch to count the students' pods", func() bool {
		total, most := r.inv.RecentUserPods(img)
		return total == 3 && most == 3
	})

	next := func(name string) *corev1.Pod {
		t.Helper()
		p := builder.MakeUserPod(name, hubNS, name).Container("notebook", img).Obj()
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		late = append(late, p)
		got := &corev1.Pod{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := next("jupyter-course-late")
	eligible := r.inv.EligibleNodes()
	if want := fmt.Sprintf("3/%d nodes hold %s, 1 busy with its users", eligible, img); got.Annotations[webhook.AnnotationSteered] != want {
		t.Errorf("annotation %q, want %q", got.Annotations[webhook.AnnotationSteered], want)
	}
	want := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
		ownTerm(corev1.NodeSelectorOpIn, "course-1", "course-2"),
	}}}
	if diff := cmp.Diff(want, got.Spec.Affinity); diff != "" {
		t.Errorf("affinity (-want +got):\n%s", diff)
	}

	for _, p := range crowd {
		if err := k8s.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	// The unbound late pod does not count; the students' are gone.
	poll(t, "the watch to see the students leave", func() bool {
		total, _ := r.inv.RecentUserPods(img)
		return total == 0
	})
	// Named again: the term is the 2-name window of the 3 holders, or the
	// 1 node lacking the image when this test's nodes are all there are.
	got = next("jupyter-course-later")
	eligible = r.inv.EligibleNodes()
	msg := got.Annotations[webhook.AnnotationSteered]
	if want := fmt.Sprintf("3/%d nodes hold %s", eligible, img); !strings.HasPrefix(msg, want) || strings.Contains(msg, "busy") {
		t.Errorf("after the students left: annotation %q, want %q and no busy holder", msg, want)
	}
}
