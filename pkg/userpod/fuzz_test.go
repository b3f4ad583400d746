package userpod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
)

// FuzzExtraImages: the extra-images annotation is the user's to write and
// is read on the admission path. Listing must not panic, must read at most
// MaxExtraImages items, and must give distinct normalized references.
func FuzzExtraImages(f *testing.F) {
	for _, s := range []string{
		"", "jupyter/r-notebook:2024", "jupyter/r-notebook:2024, rocker/binder:latest",
		" , ,,", "a,a,A", "jupyter/scipy-notebook,docker.io/jupyter/scipy-notebook:latest",
		strings.Repeat("img,", MaxExtraImages+4), "bad image, also:bad:", "\u00e9,\x00",
	} {
		f.Add(s)
	}
	containers := []Container{{Name: "notebook", Image: "jupyter/scipy-notebook:2024", ImagePullPolicy: corev1.PullAlways}}
	norm := imageref.NewCache(64)
	f.Fuzz(func(t *testing.T, extra string) {
		got, rep := AppendImages(nil, norm, nil, containers, extra)
		if len(got) == 0 || got[0].Ref != "docker.io/jupyter/scipy-notebook:2024" {
			t.Fatalf("the container's image is not first: %+v", got)
		}
		if len(got)-1 > MaxExtraImages {
			t.Fatalf("%d extra images read, at most %d allowed", len(got)-1, MaxExtraImages)
		}
		if rep.Invalid < 0 || rep.Overflow < 0 || (rep.Invalid > 0) != (rep.FirstErr != nil) {
			t.Fatalf("inconsistent report %+v", rep)
		}
		seen := map[string]bool{}
		for _, img := range got {
			if seen[img.Ref] {
				t.Fatalf("%q listed twice in %+v", img.Ref, got)
			}
			seen[img.Ref] = true
			if again, err := imageref.Normalize(img.Ref); err != nil || again != img.Ref {
				t.Fatalf("%q is not normalized (%q, %v)", img.Ref, again, err)
			}
		}
		// The same pod as an object lists the same.
		p := &corev1.Pod{}
		p.Annotations = map[string]string{AnnotationExtraImages: extra}
		p.Spec.Containers = []corev1.Container{{Name: "notebook", Image: containers[0].Image, ImagePullPolicy: corev1.PullAlways}}
		fromPod, prep := PodImages(p, nil)
		if len(fromPod) != len(got) || prep.Invalid != rep.Invalid || prep.Overflow != rep.Overflow {
			t.Fatalf("PodImages %+v %+v, AppendImages %+v %+v", fromPod, prep, got, rep)
		}
	})
}
