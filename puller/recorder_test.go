package puller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/test/builder"
)

func TestRecordNeverBlocks(t *testing.T) {
	q := newSightingQueue(2)
	s := imageset.Sighting{Image: "docker.io/org/a:1"}
	q.Record(s) // not leader: dropped
	if len(q.ch) != 0 {
		t.Fatal("a follower queued a sighting nobody reads")
	}
	q.leader.Store(true)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			q.Record(s) // the queue holds 2: the rest must be dropped, not wait
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a full queue")
	}
	if len(q.ch) != 2 {
		t.Errorf("queued %d, want 2", len(q.ch))
	}
}

func BenchmarkRecord(b *testing.B) {
	q := newSightingQueue(queueSize)
	q.leader.Store(true)
	s := imageset.Sighting{Image: "docker.io/org/a:1", Namespace: "hub", Pod: "jupyter-a", User: "a"}
	go func() {
		for range q.ch {
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		q.Record(s)
	}
}

func TestPodSightings(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		pod  *corev1.Pod
		want []imageset.Sighting
	}{
		"kubespawner pod": {
			pod: builder.MakeUserPod("jupyter-alice", "hub", "alice").
				InitContainer("block-cloud-metadata", "quay.io/jupyterhub/k8s-network-tools:4.0.0").
				Image("jupyter/scipy-notebook:2024").PullPolicy(corev1.PullAlways).
				Image("jupyter/scipy-notebook:2024").
				Image("bad image!").
				PullSecret("reg").Obj(),
			want: []imageset.Sighting{
				{Image: "quay.io/jupyterhub/k8s-network-tools:4.0.0", Namespace: "hub", Pod: "jupyter-alice", User: "alice", PullSecrets: []string{"reg"}, Time: now, Source: imageset.SourceWatch},
				{Image: "docker.io/jupyter/scipy-notebook:2024", Namespace: "hub", Pod: "jupyter-alice", User: "alice", PullSecrets: []string{"reg"}, PullPolicy: corev1.PullAlways, Time: now, Source: imageset.SourceWatch},
			},
		},
		"no user name": {
			pod: builder.MakePod("p", "ns").Image("busybox").Obj(),
			want: []imageset.Sighting{
				{Image: "docker.io/library/busybox:latest", Namespace: "ns", Pod: "p", User: "ns/p", Time: now, Source: imageset.SourceWatch},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PodSightings(tc.pod, now, imageset.SourceWatch)); diff != "" {
				t.Errorf("sightings (-want +got):\n%s", diff)
			}
		})
	}
}
