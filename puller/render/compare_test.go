package render

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageset"
)

// A write keeps `kubectl rollout restart`'s template annotation and labels
// and annotations prepuller does not set, and replaces the spec.
func TestForUpdate(t *testing.T) {
	desired, err := DaemonSet(input())
	if err != nil {
		t.Fatal(err)
	}
	desired.Annotations = map[string]string{"prepuller.dev/x": "1"}
	live := serverDefaults(desired)
	live.Labels["team"] = "x"
	live.Spec.Template.Annotations = map[string]string{RestartedAtAnnotation: "2026-01-01T00:00:00Z", "hand": "edit"}
	live.Spec.Template.Spec.InitContainers[1].Image = "docker.io/evil/miner:1"
	live.Spec.Template.Spec.PriorityClassName = "system-node-critical"

	upd := ForUpdate(desired, live)
	if diff := cmp.Diff(map[string]string{RestartedAtAnnotation: "2026-01-01T00:00:00Z"}, upd.Spec.Template.Annotations); diff != "" {
		t.Errorf("template annotations (-want +got):\n%s", diff)
	}
	if upd.Labels["team"] != "x" || upd.Annotations["prepuller.dev/x"] != "1" || upd.Annotations["deprecated.daemonset.template.generation"] != "3" {
		t.Errorf("metadata not merged: labels %v annotations %v", upd.Labels, upd.Annotations)
	}
	if upd.ResourceVersion != live.ResourceVersion {
		t.Errorf("resourceVersion %q, want live's %q", upd.ResourceVersion, live.ResourceVersion)
	}
	if !UpToDate(desired, upd) {
		t.Error("the written object is not up to date")
	}
	if desired.Spec.Template.Annotations != nil {
		t.Error("ForUpdate changed desired")
	}
	if live.Spec.Template.Spec.PriorityClassName != "system-node-critical" {
		t.Error("ForUpdate changed live")
	}
}

// A pure re-rank (the same images, another order of popularity) renders a
// DaemonSet that is up to date: no write, no rollout.
func TestReRankIsUpToDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rules := imageset.Rules{TTL: time.Hour, MaxImages: 10, MinUsers: 1}
	s := imageset.New()
	see := func(img, user string) {
		s.Observe(imageset.Sighting{Image: img, User: user, Namespace: "hub", Pod: "jupyter-" + user, Time: now})
	}
	see("docker.io/org/a:1", "u1")
	see("docker.io/org/a:1", "u2")
	see("docker.io/org/b:1", "u3")
	see("docker.io/org/c:1", "u4")
	renderActive := func(ev imageset.Evaluation) *appsv1.DaemonSet {
		t.Helper()
		in := input()
		in.Images = nil
		for _, e := range ev.Active {
			in.Images = append(in.Images, Image{Image: e.Image, PullPolicy: corev1.PullIfNotPresent})
		}
		ds, err := DaemonSet(in)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	ev := s.Evaluate(now, rules)
	for _, e := range ev.Active {
		added := now // what the controller records when it writes
		e.AddedAt = &added
	}
	live := serverDefaults(renderActive(ev))

	for _, u := range []string{"u5", "u6", "u7"} {
		see("docker.io/org/c:1", u)
	}
	ev2 := s.Evaluate(now, rules)
	if ev2.Ranked[0].Image != "docker.io/org/c:1" || ev.Ranked[0].Image == "docker.io/org/c:1" {
		t.Fatalf("no re-rank: before %s first, after %s first", ev.Ranked[0].Image, ev2.Ranked[0].Image)
	}
	if !UpToDate(renderActive(ev2), live) {
		t.Error("a re-rank of the same images would rewrite (and roll) the DaemonSet")
	}
}
