package puller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/puller/imageset"
	"prepuller.dev/prepuller/puller/render"
)

func TestRolloutInProgress(t *testing.T) {
	cases := map[string]struct {
		ds   *appsv1.DaemonSet
		want bool
	}{
		"no DaemonSet":              {ds: nil, want: false},
		"not observed yet":          {ds: daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3}), want: true},
		"observed, pods to replace": {ds: daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1}), want: true},
		// Replaced is enough: pods still pulling (not ready) do not hold
		// writes.
		"every pod replaced, not ready": {ds: daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberReady: 0}), want: false},
		"no eligible node":              {ds: daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 2}), want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := rolloutInProgress(tc.ds); got != tc.want {
				t.Errorf("rolloutInProgress = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnblocksRollout(t *testing.T) {
	live := daemonSet(1, appsv1.DaemonSetStatus{}, "docker.io/org/a:1", "docker.io/org/b:1")
	cases := map[string]struct {
		decisions map[string]imageset.Decision
		want      bool
	}{
		"all active": {decisions: map[string]imageset.Decision{
			"docker.io/org/a:1": {State: imageset.StateActive},
			"docker.io/org/b:1": {State: imageset.StateActive},
		}, want: false},
		"a pulled image quarantined": {decisions: map[string]imageset.Decision{
			"docker.io/org/a:1": {State: imageset.StateActive},
			"docker.io/org/b:1": {State: imageset.StateQuarantined},
		}, want: true},
		// Expiry is routine: it waits like an addition.
		"a pulled image expired": {decisions: map[string]imageset.Decision{
			"docker.io/org/a:1": {State: imageset.StateExpired},
		}, want: false},
		"an image not in the DaemonSet quarantined": {decisions: map[string]imageset.Decision{
			"docker.io/org/c:1": {State: imageset.StateQuarantined},
		}, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := unblocksRollout(live, imageset.Evaluation{Decisions: tc.decisions}); got != tc.want {
				t.Errorf("unblocksRollout = %v, want %v", got, tc.want)
			}
		})
	}
}

func daemonSet(generation int64, status appsv1.DaemonSetStatus, images ...string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{Status: status}
	ds.Generation = generation
	ds.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: render.InstallContainerName, Image: "ghcr.io/prepuller/prepuller:1"}}
	for i, img := range images {
		ds.Spec.Template.Spec.InitContainers = append(ds.Spec.Template.Spec.InitContainers,
			corev1.Container{Name: "pull-" + string(rune('a'+i)), Image: img})
	}
	return ds
}
