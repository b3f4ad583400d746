package puller

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
)

func learnController(namespaces, excluded []string) *reconciler {
	return &reconciler{
		opts: DefaultOptions(),
		ns:   "prepuller",
		set:  imageset.New(),
		norm: imageref.NewCache(16),
		scope: &userpod.Scope{
			Namespaces: userpod.NewNamespaces(namespaces, excluded, "prepuller"),
			Selector:   labels.SelectorFromSet(labels.Set{"component": "singleuser-server"}),
		},
	}
}

// Every pod of a sync is seen at the same instant: whether the DaemonSet
// pulls an image with Always must not depend on which pod is listed first.
func TestLearnPullAlwaysIgnoresListOrder(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const img = "docker.io/jupyter/scipy-notebook:2024"
	always := *builder.MakeUserPod("jupyter-a", "hub", "a").Image(img).PullPolicy(corev1.PullAlways).Obj()
	always.UID = "a"
	ifNot := *builder.MakeUserPod("jupyter-b", "hub", "b").Image(img).PullPolicy(corev1.PullIfNotPresent).Obj()
	ifNot.UID = "b"
	cases := map[string]struct {
		syncs [][]corev1.Pod // pods listed at each sync, a second apart
		want  bool
	}{
		"Always first":               {syncs: [][]corev1.Pod{{always, ifNot}}, want: true},
		"Always last":                {syncs: [][]corev1.Pod{{ifNot, always}}, want: true},
		"order flips between syncs":  {syncs: [][]corev1.Pod{{always, ifNot}, {ifNot, always}}, want: true},
		"the Always pod is gone":     {syncs: [][]corev1.Pod{{always, ifNot}, {ifNot}}, want: false},
		"only IfNotPresent":          {syncs: [][]corev1.Pod{{ifNot}}, want: false},
		"an Always pod comes later":  {syncs: [][]corev1.Pod{{ifNot}, {ifNot, always}}, want: true},
		"no live pod: last decision": {syncs: [][]corev1.Pod{{ifNot, always}, {}}, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := learnController(nil, nil)
			for i, pods := range tc.syncs {
				c.learn(pods, now.Add(time.Duration(i)*time.Second))
			}
			if got := c.set.Get(img).PullAlways; got != tc.want {
				t.Errorf("PullAlways = %v, want %v", got, tc.want)
			}
		})
	}
}

// The watch learns from exactly the pods the webhook would: the same scope,
// the same opt-out, and the extra images too, which count as running.
func TestLearnScopeAndExtraImages(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(name, ns string) *builder.PodWrapper {
		return builder.MakeUserPod(name, ns, name).Image("org/" + name + ":1")
	}
	pods := []corev1.Pod{
		*pod("in", "hub").Annotation(userpod.AnnotationExtraImages, "org/extra:1, org/in:1").Obj(),
		*pod("skipped", "hub").Annotation(userpod.AnnotationSkip, "true").Obj(),
		*pod("excluded", "kube-system").Obj(),
		*pod("elsewhere", "other").Obj(),
		*pod("own", "prepuller").Obj(),
		*builder.MakePod("not-user", "hub").Image("org/not-user:1").Obj(),
		*pod("done", "hub").Phase(corev1.PodSucceeded).Obj(),
	}
	for i := range pods {
		pods[i].UID = types.UID(pods[i].Name)
	}
	c := learnController([]string{"hub", "kube-system", "prepuller"}, []string{"kube-system"})
	c.learn(pods, now)

	got := map[string]int{}
	for _, e := range c.set.Entries() {
		got[e.Image] = e.Running
	}
	want := map[string]int{"docker.io/org/in:1": 1, "docker.io/org/extra:1": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("learned images and running counts (-want +got):\n%s", diff)
	}
	if users := c.set.Get("docker.io/org/extra:1").Users; !slices.Equal(keys(users), []string{"in"}) {
		t.Errorf("extra image users = %v, want [in]", keys(users))
	}
}

func keys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPodSightings(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		pod         *corev1.Pod
		limit       int
		want        []imageset.Sighting
		wantRefused int
	}{
		"kubespawner pod": {
			pod: builder.MakeUserPod("jupyter-alice", "hub", "alice").
				InitContainer("block-cloud-metadata", "quay.io/jupyterhub/k8s-network-tools:4.0.0").
				Image("jupyter/scipy-notebook:2024").PullPolicy(corev1.PullAlways).
				Image("jupyter/scipy-notebook:2024").
				Image("bad image!").
				PullSecret("reg").Obj(),
			want: []imageset.Sighting{
				{Image: "quay.io/jupyterhub/k8s-network-tools:4.0.0", Namespace: "hub", Pod: "jupyter-alice", User: "alice", PullSecrets: []string{"reg"}, Time: now},
				{Image: "docker.io/jupyter/scipy-notebook:2024", Namespace: "hub", Pod: "jupyter-alice", User: "alice", PullSecrets: []string{"reg"}, PullPolicy: corev1.PullAlways, Time: now},
			},
		},
		"no user name": {
			pod: builder.MakePod("p", "ns").Image("busybox").Obj(),
			want: []imageset.Sighting{
				{Image: "docker.io/library/busybox:latest", Namespace: "ns", Pod: "p", User: "ns/p", Time: now},
			},
		},
		"past the per-pod limit: containers first, then extra images": {
			pod: builder.MakePod("p", "ns").Image("a").Image("b").
				Annotation(userpod.AnnotationExtraImages, "c,d").Obj(),
			limit: 3,
			want: []imageset.Sighting{
				{Image: "docker.io/library/a:latest", Namespace: "ns", Pod: "p", User: "ns/p", Time: now},
				{Image: "docker.io/library/b:latest", Namespace: "ns", Pod: "p", User: "ns/p", Time: now},
				{Image: "docker.io/library/c:latest", Namespace: "ns", Pod: "p", User: "ns/p", Time: now},
			},
			wantRefused: 1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = DefaultOptions().MaxImagesPerPod
			}
			got, refused := PodSightings(tc.pod, now, imageref.NewCache(16), limit)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sightings (-want +got):\n%s", diff)
			}
			if refused != tc.wantRefused {
				t.Errorf("refused = %d, want %d", refused, tc.wantRefused)
			}
		})
	}
}
