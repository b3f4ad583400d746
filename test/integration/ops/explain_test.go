package ops_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/cmd/prepuller/ops"
	"prepuller.dev/prepuller/webhook"
)

func TestExplain(t *testing.T) {
	ctx := context.Background()
	const ns = "explain"
	fixture(ctx, t, ns, map[string][]string{
		"explain-0": {scipy, rnb},
		"explain-1": {scipy},
		"explain-2": {scipy},
	})
	hub := "explain-hub"
	create(ctx, t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hub}})

	// What the webhook wrote at admission: the annotation and its own term
	// (recognized by the marker requirement).
	steered := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: hub, Name: "jupyter-alice", Annotations: map[string]string{
			webhook.AnnotationSteered: "1/3 nodes hold " + rnb,
		}},
		Spec: corev1.PodSpec{
			NodeName:   "explain-0",
			Containers: []corev1.Container{{Name: "notebook", Image: "jupyter/r-notebook:2024-01-15"}},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 100,
					Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"explain-0"}},
						{Key: webhook.MarkerLabel, Operator: corev1.NodeSelectorOpDoesNotExist},
					}},
				}},
			}},
		},
	}
	create(ctx, t, steered)
	kubeletEvent(ctx, t, steered, "Pulled", `Container image "jupyter/r-notebook:2024-01-15" already present on machine`)

	// Nothing to steer: the webhook wrote nothing.
	notSteered := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: hub, Name: "jupyter-bob", Labels: map[string]string{"component": "singleuser-server"}},
		Spec: corev1.PodSpec{
			NodeName:   "explain-2",
			Containers: []corev1.Container{{Name: "notebook", Image: solo}},
		},
	}
	create(ctx, t, notSteered)
	kubeletEvent(ctx, t, notSteered, "Pulling", `Pulling image "`+solo+`"`)
	kubeletEvent(ctx, t, notSteered, "Pulled", `Successfully pulled image "`+solo+`" in 41.2s`)

	unseen := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: hub, Name: "other"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: scipy}}},
	}
	create(ctx, t, unseen)

	s, err := ops.Load(ctx, k8s, ns, t0)
	if err != nil {
		t.Fatal(err)
	}
	for name, pod := range map[string]string{
		"explain-steered.golden":     steered.Name,
		"explain-not-steered.golden": notSteered.Name,
		"explain-unseen.golden":      unseen.Name,
	} {
		t.Run(name, func(t *testing.T) {
			ex, err := ops.Explain(ctx, k8s, s, hub, pod)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := ops.PrintExplanation(&out, ex); err != nil {
				t.Fatal(err)
			}
			golden(t, name, out.Bytes())
		})
	}
	if _, err := ops.Explain(ctx, k8s, s, hub, "absent"); err == nil {
		t.Error("Explain of a missing pod: want an error")
	}
}

func kubeletEvent(ctx context.Context, t *testing.T, pod *corev1.Pod, reason, message string) {
	t.Helper()
	create(ctx, t, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, GenerateName: pod.Name + "."},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: "spec.containers{" + pod.Spec.Containers[0].Name + "}",
		},
		Reason: reason, Message: message, Type: corev1.EventTypeNormal,
		Source:        corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
		LastTimestamp: metav1.NewTime(time.Now()),
	})
}
