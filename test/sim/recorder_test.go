package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

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
