package render

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
)

// What DaemonSet writes, Images reads back in the same order: rendering
// the images read gives the same DaemonSet.
func TestImagesRoundTrip(t *testing.T) {
	cases := map[string][]string{
		"none": nil,
		"one":  {"docker.io/jupyter/scipy-notebook:2024"},
		"order kept, not sorted": {
			"quay.io/jupyter/r-notebook:2024", "docker.io/library/busybox:latest", "docker.io/jupyter/base-notebook@sha256:" + sha64,
		},
		"long tail": {"registry.example.org/g/" + longName + ":a-tag-that-is-long-too"},
	}
	renderImages := func(t *testing.T, images []string) *appsv1.DaemonSet {
		t.Helper()
		in := input()
		in.Images = nil
		for _, img := range images {
			in.Images = append(in.Images, Image{Image: img, PullPolicy: corev1.PullIfNotPresent})
		}
		ds, err := DaemonSet(in)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	for name, images := range cases {
		t.Run(name, func(t *testing.T) {
			ds := renderImages(t, images)
			got := Images(ds)
			if diff := cmp.Diff(images, got); diff != "" {
				t.Fatalf("Images(DaemonSet(in)) (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(ds, renderImages(t, got)); diff != "" {
				t.Errorf("DaemonSet(Images(DaemonSet(in))) (-first +second):\n%s", diff)
			}
		})
	}
}

const (
	sha64    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	longName = "a-repository-name-well-over-the-room-a-container-name-has-left-for-it"
)

// Only the containers DaemonSet makes for an image count: a name that
// merely starts with "pull-" is not enough.
func TestImagesReadsOnlyRenderedContainers(t *testing.T) {
	const img = "docker.io/jupyter/scipy-notebook:2024"
	const other = "docker.io/library/busybox:latest"
	cases := map[string]struct {
		inits []corev1.Container
		want  []string
	}{
		"install container excluded": {
			inits: []corev1.Container{{Name: InstallContainerName, Image: "ghcr.io/prepuller/prepuller:v1"}, {Name: ContainerName(img), Image: img}},
			want:  []string{img},
		},
		"pull- prefix, made-up name": {
			inits: []corev1.Container{{Name: "pull-scipy", Image: img}, {Name: ContainerName(other), Image: other}},
			want:  []string{other},
		},
		"render's name for another image (image edited by hand)": {
			inits: []corev1.Container{{Name: ContainerName(img), Image: other}},
		},
		"longer hash of a name clash": {
			inits: []corev1.Container{{Name: containerName(img, longHashLen), Image: img}},
			want:  []string{img},
		},
		"alias of the rendered reference": {
			inits: []corev1.Container{{Name: ContainerName(other), Image: "busybox"}},
			want:  []string{other},
		},
		"invalid image": {
			inits: []corev1.Container{{Name: ContainerName("Not:Valid:"), Image: "Not:Valid:"}},
		},
		"another tool's container": {
			inits: []corev1.Container{{Name: "istio-init", Image: "docker.io/istio/proxyv2:1.20"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds, err := DaemonSet(input())
			if err != nil {
				t.Fatal(err)
			}
			ds.Spec.Template.Spec.InitContainers = tc.inits
			if diff := cmp.Diff(tc.want, Images(ds)); diff != "" {
				t.Errorf("Images (-want +got):\n%s", diff)
			}
		})
	}
	if got := Images(nil); got != nil {
		t.Errorf("Images(nil) = %v", got)
	}
}

func TestPodPulls(t *testing.T) {
	const img = "docker.io/jupyter/scipy-notebook:2024"
	done := corev1.ContainerStatus{Name: InstallContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	waiting := corev1.ContainerStatus{Name: ContainerName(img), State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}
	spec := &corev1.PodSpec{InitContainers: []corev1.Container{
		{Name: InstallContainerName, Image: "ghcr.io/prepuller/prepuller:v1"},
		{Name: ContainerName(img), Image: "jupyter/scipy-notebook:2024"},
		{Name: "pull-bad", Image: "Not:Valid:"},
	}}
	// Statuses are matched by name, whatever their order.
	withStatus := []Pull{
		{Container: InstallContainerName, Image: "ghcr.io/prepuller/prepuller:v1", Valid: true, Install: true, Status: &done},
		{Container: ContainerName(img), Image: img, Valid: true, Status: &waiting},
		{Container: "pull-bad", Image: "Not:Valid:"},
	}
	cases := map[string]struct {
		statuses []corev1.ContainerStatus
		want     []Pull
	}{
		"statuses in spec order": {statuses: []corev1.ContainerStatus{done, waiting}, want: withStatus},
		"statuses out of order":  {statuses: []corev1.ContainerStatus{waiting, done}, want: withStatus},
		"no statuses yet": {
			want: []Pull{
				{Container: InstallContainerName, Image: "ghcr.io/prepuller/prepuller:v1", Valid: true, Install: true},
				{Container: ContainerName(img), Image: img, Valid: true},
				{Container: "pull-bad", Image: "Not:Valid:"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for cacheName, norm := range map[string]*imageref.Cache{"no cache": nil, "cache": imageref.NewCache(8)} {
				got := slices.Collect(PodPulls(spec, tc.statuses, norm))
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", cacheName, diff)
				}
			}
		})
	}
	// Stopping early is honoured.
	for p := range PodPulls(spec, nil, nil) {
		if !p.Install {
			t.Fatalf("first pull is %q, want the install container", p.Container)
		}
		break
	}
}
