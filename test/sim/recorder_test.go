package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/test/sim/kubelet"
	"prepuller.dev/prepuller/test/sim/report"
	"prepuller.dev/prepuller/test/sim/workload"
	"prepuller.dev/prepuller/webhook"
)

func TestSteeringTermPreferred(t *testing.T) {
	pod := func(terms ...corev1.PreferredSchedulingTerm) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: terms,
		}}}}
	}
	term := func(op corev1.NodeSelectorOperator, marked bool, nodes ...string) corev1.PreferredSchedulingTerm {
		exprs := []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: op, Values: nodes}}
		if marked {
			exprs = append(exprs, corev1.NodeSelectorRequirement{Key: webhook.MarkerLabel, Operator: corev1.NodeSelectorOpDoesNotExist})
		}
		return corev1.PreferredSchedulingTerm{Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: exprs}}
	}
	cases := map[string]struct {
		pod         *corev1.Pod
		node        string
		steered     bool
		onPreferred bool
	}{
		"no affinity":              {pod: &corev1.Pod{}, node: "a"},
		"the user's own term only": {pod: pod(term(corev1.NodeSelectorOpIn, false, "a")), node: "a"},
		"In, on a named holder":    {pod: pod(term(corev1.NodeSelectorOpIn, false, "x"), term(corev1.NodeSelectorOpIn, true, "a", "b")), node: "b", steered: true, onPreferred: true},
		"In, elsewhere":            {pod: pod(term(corev1.NodeSelectorOpIn, true, "a", "b")), node: "c", steered: true},
		"NotIn, on a named lacker": {pod: pod(term(corev1.NodeSelectorOpNotIn, true, "a")), node: "a", steered: true},
		"NotIn, on another node":   {pod: pod(term(corev1.NodeSelectorOpNotIn, true, "a")), node: "c", steered: true, onPreferred: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := steeringTerm(tc.pod)
			if (req != nil) != tc.steered {
				t.Fatalf("steeringTerm = %v, want steered %v", req, tc.steered)
			}
			if req != nil && preferred(req, tc.node) != tc.onPreferred {
				t.Errorf("preferred(%v, %s) = %v, want %v", req, tc.node, !tc.onPreferred, tc.onPreferred)
			}
		})
	}
}

func TestRecorderCountsUsersPerNode(t *testing.T) {
	w := workload.Workload{
		Images:   []workload.Image{{Ref: "img:1"}},
		Sessions: []workload.Session{{User: "a"}, {User: "b"}, {User: "c"}, {User: "d"}},
	}
	steered := func(user string, nodes ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "jupyter-" + user}}
		if len(nodes) > 0 {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 50, Preference: corev1.NodeSelectorTerm{
					MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: nodes},
						{Key: webhook.MarkerLabel, Operator: corev1.NodeSelectorOpDoesNotExist},
					},
				}}},
			}}
		}
		return p
	}
	start := func(user, node string) kubelet.Start {
		return kubelet.Start{Namespace: hubNamespace, Name: "jupyter-" + user, Node: node}
	}
	r := newRecorder(w)
	r.created(0, steered("a"))
	r.started(start("a", "n1"))
	r.started(start("a", "n1")) // a repeated callback counts once
	r.created(1, steered("b"))
	r.started(start("b", "n1"))
	r.created(2, steered("c", "n1", "n2"))
	r.started(start("c", "n3"))
	r.left(1)
	r.left(1)
	r.created(3, steered("d", "n1", "n3"))
	r.started(start("d", "n1"))

	one := 1
	want := []report.Start{
		{Session: 0, Node: "n1"},
		{Session: 1, Node: "n1", NodeUsers: 1},
		{Session: 2, Node: "n3", SteerOp: "In", SteerNodes: 2, NamedMinUsers: new(int)},
		{Session: 3, Node: "n1", NodeUsers: 1, SteerOp: "In", SteerNodes: 2, OnPreferred: true, NamedMinUsers: &one},
	}
	if diff := cmp.Diff(want, r.starts()); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
}
