package puller

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageset"
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
	for _, img := range images {
		ds.Spec.Template.Spec.InitContainers = append(ds.Spec.Template.Spec.InitContainers,
			corev1.Container{Name: render.ContainerName(img), Image: img})
	}
	return ds
}

func TestHoldWrite(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rolling := daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1}, "docker.io/org/a:1")
	done := daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3}, "docker.io/org/a:1")
	active := imageset.Evaluation{Decisions: map[string]imageset.Decision{"docker.io/org/a:1": {State: imageset.StateActive}}}
	quarantined := imageset.Evaluation{Decisions: map[string]imageset.Decision{"docker.io/org/a:1": {State: imageset.StateQuarantined}}}
	cases := map[string]struct {
		lastWrite, moved time.Time
		live             *appsv1.DaemonSet
		ev               imageset.Evaluation
		wantUntil        time.Time
		wantWhy          string
	}{
		"inside the window": {lastWrite: now.Add(-5 * time.Second), moved: now, live: done, ev: active,
			wantUntil: now.Add(5 * time.Second), wantWhy: "window"},
		"rollout done": {lastWrite: now.Add(-time.Minute), moved: now, live: done, ev: active},
		"rollout moving": {lastWrite: now.Add(-time.Minute), moved: now.Add(-10 * time.Second), live: rolling, ev: active,
			wantUntil: now.Add(4 * time.Minute), wantWhy: "rollout"},
		"rollout past rolloutWait": {lastWrite: now.Add(-6 * time.Minute), moved: now, live: rolling, ev: active},
		"rollout stalled":          {lastWrite: now.Add(-2 * time.Minute), moved: now.Add(-61 * time.Second), live: rolling, ev: active},
		"quarantine removal":       {lastWrite: now.Add(-time.Minute), moved: now, live: rolling, ev: quarantined},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := &reconciler{
				opts:      Options{WriteInterval: duration(10 * time.Second), RolloutWait: duration(5 * time.Minute)},
				lastWrite: tc.lastWrite,
				progress:  rolloutProgress{generation: tc.live.Generation, updated: tc.live.Status.UpdatedNumberScheduled, at: tc.moved},
			}
			until, why := c.holdWrite(now, tc.live, tc.ev)
			if !until.Equal(tc.wantUntil) || why != tc.wantWhy {
				t.Errorf("holdWrite = %v %q, want %v %q", until, why, tc.wantUntil, tc.wantWhy)
			}
		})
	}
}

func TestRolloutProgress(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var p rolloutProgress
	ds := daemonSet(2, appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1})
	p.see(ds, t0)
	p.see(ds, t0.Add(time.Minute)) // no change: the clock keeps running
	if !p.at.Equal(t0) {
		t.Errorf("unchanged rollout moved its clock to %v", p.at)
	}
	ds.Status.UpdatedNumberScheduled = 2
	p.see(ds, t0.Add(2*time.Minute))
	if !p.at.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("a replaced pod did not restart the clock: %v", p.at)
	}
}
