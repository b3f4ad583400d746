package userpod

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/test/builder"
)

func TestPodImages(t *testing.T) {
	many := make([]string, 0, 40)
	for i := range 40 {
		many = append(many, fmt.Sprintf("org/extra-%d:1", i))
	}
	cases := map[string]struct {
		pod        *corev1.Pod
		want       []Image
		wantReport Report
	}{
		"init, containers and extra images, each once, Always wins": {
			pod: builder.MakeUserPod("jupyter-a", "hub", "a").
				InitContainer("block-cloud-metadata", "jupyterhub/k8s-network-tools:4.0.0").
				Image("jupyter/scipy-notebook:2024").
				Image("docker.io/jupyter/scipy-notebook:2024").PullPolicy(corev1.PullAlways).
				Annotation(AnnotationExtraImages, " rocker/binder ,,jupyter/scipy-notebook:2024,").Obj(),
			want: []Image{
				{Ref: "docker.io/jupyterhub/k8s-network-tools:4.0.0"},
				{Ref: "docker.io/jupyter/scipy-notebook:2024", PullPolicy: corev1.PullAlways},
				{Ref: "docker.io/rocker/binder:latest"},
			},
		},
		"invalid references skipped, the first reported": {
			pod: builder.MakeUserPod("jupyter-a", "hub", "a").Image("Not Valid").
				Annotation(AnnotationExtraImages, "ubuntu,BAD ONE").Obj(),
			want:       []Image{{Ref: "docker.io/library/ubuntu:latest"}},
			wantReport: Report{Invalid: 2, FirstInvalid: "Not Valid"},
		},
		"extra images capped": {
			pod: builder.MakeUserPod("jupyter-a", "hub", "a").Image("ubuntu").
				Annotation(AnnotationExtraImages, strings.Join(many, ", ,")).Obj(),
			want: func() []Image {
				out := []Image{{Ref: "docker.io/library/ubuntu:latest"}}
				for _, m := range many[:MaxExtraImages] {
					out = append(out, Image{Ref: "docker.io/" + m})
				}
				return out
			}(),
			wantReport: Report{Overflow: 40 - MaxExtraImages},
		},
		"no images": {pod: builder.MakePod("p", "ns").Obj()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, norm := range []*imageref.Cache{nil, imageref.NewCache(64)} {
				got, rep := PodImages(tc.pod, norm)
				if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("images (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantReport, rep, cmpopts.IgnoreFields(Report{}, "FirstErr")); diff != "" {
					t.Errorf("report (-want +got):\n%s", diff)
				}
				if (rep.FirstErr != nil) != (rep.Invalid > 0) {
					t.Errorf("FirstErr = %v with %d invalid", rep.FirstErr, rep.Invalid)
				}
			}
		})
	}
}

// The webhook's decoded containers and the watch's Pod objects give the
// same list: both paths learn the same images.
func TestAppendImagesMatchesPodImages(t *testing.T) {
	pod := builder.MakeUserPod("jupyter-a", "hub", "a").
		InitContainer("init", "busybox").Image("jupyter/base-notebook").Image("busybox").PullPolicy(corev1.PullAlways).
		Annotation(AnnotationExtraImages, "quay.io/x/y:1").Obj()
	var init, ctrs []Container
	for _, c := range pod.Spec.InitContainers {
		init = append(init, Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy})
	}
	for _, c := range pod.Spec.Containers {
		ctrs = append(ctrs, Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy})
	}
	prefix := []Image{{Ref: "docker.io/library/busybox:latest"}} // the caller's; never deduplicated against
	got, _ := AppendImages(prefix, nil, init, ctrs, pod.Annotations[AnnotationExtraImages])
	want, _ := PodImages(pod, nil)
	if diff := cmp.Diff(append(prefix[:1:1], want...), got); diff != "" {
		t.Errorf("AppendImages (-want +got):\n%s", diff)
	}
}

// Hundreds of distinct images stay linear (the map takes over) and each is
// listed once.
func TestPodImagesManyContainers(t *testing.T) {
	w := builder.MakeUserPod("jupyter-a", "hub", "a")
	for i := range 600 {
		w.Image(fmt.Sprintf("org/image-%d:1", i%300))
	}
	got, _ := PodImages(w.Obj(), nil)
	if len(got) != 300 {
		t.Fatalf("got %d images, want 300", len(got))
	}
	for i, img := range got {
		if want := fmt.Sprintf("docker.io/org/image-%d:1", i); img.Ref != want {
			t.Fatalf("image %d = %s, want %s", i, img.Ref, want)
		}
	}
}

func TestUser(t *testing.T) {
	cases := map[string]struct {
		annotations, labels map[string]string
		want, username      string
	}{
		"annotation first": {annotations: map[string]string{AnnotationUsername: "Alice@Example"}, labels: map[string]string{LabelUsername: "alice-40example"}, want: "Alice@Example", username: "Alice@Example"},
		"label else":       {labels: map[string]string{LabelUsername: "alice"}, want: "alice", username: "alice"},
		"neither: the pod": {want: "hub/jupyter-a"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := User("hub", "jupyter-a", tc.annotations, tc.labels); got != tc.want {
				t.Errorf("User = %q, want %q", got, tc.want)
			}
			if got := Username(tc.annotations, tc.labels); got != tc.username {
				t.Errorf("Username = %q, want %q", got, tc.username)
			}
		})
	}
}

func TestScope(t *testing.T) {
	sel := labels.SelectorFromSet(labels.Set{"component": "singleuser-server"})
	user := map[string]string{"component": "singleuser-server"}
	cases := map[string]struct {
		namespaces, excluded []string
		ns                   string
		labels, annotations  map[string]string
		want                 Verdict
	}{
		"user pod":                   {ns: "hub", labels: user, want: In},
		"own namespace":              {ns: "prepuller", labels: user, want: OtherNamespace},
		"excluded":                   {excluded: []string{"kube-system"}, ns: "kube-system", labels: user, want: OtherNamespace},
		"outside the list":           {namespaces: []string{"hub"}, ns: "other", labels: user, want: OtherNamespace},
		"listed":                     {namespaces: []string{"hub"}, ns: "hub", labels: user, want: In},
		"listed but own":             {namespaces: []string{"prepuller"}, ns: "prepuller", labels: user, want: OtherNamespace},
		"not a user pod":             {ns: "hub", labels: map[string]string{"component": "hub"}, want: NotSelected},
		"opted out":                  {ns: "hub", labels: user, annotations: map[string]string{AnnotationSkip: "true"}, want: OptedOut},
		"skip other than true is no": {ns: "hub", labels: user, annotations: map[string]string{AnnotationSkip: "yes"}, want: In},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := &Scope{Namespaces: NewNamespaces(tc.namespaces, tc.excluded, "prepuller"), Selector: sel}
			if got := s.Check(tc.ns, tc.labels, tc.annotations); got != tc.want {
				t.Errorf("Check = %v, want %v", got, tc.want)
			}
			p := builder.MakePod("p", tc.ns).LabelSet(tc.labels).Obj()
			p.Annotations = tc.annotations
			if got := s.CheckPod(p); got != tc.want {
				t.Errorf("CheckPod = %v, want %v", got, tc.want)
			}
		})
	}
}
