package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/puller/render"
)

func TestPulledImages(t *testing.T) {
	const img = "docker.io/jupyter/scipy-notebook:2024"
	exited := func(name string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	spec := corev1.PodSpec{NodeName: "n1", InitContainers: []corev1.Container{
		{Name: render.InstallContainerName, Image: "ghcr.io/prepuller/prepuller:1"},
		{Name: render.ContainerName(img), Image: "jupyter/scipy-notebook:2024"},
		{Name: "pull-other", Image: "busybox"},
		{Name: "pull-invalid", Image: "Not:Valid:"},
	}}
	cases := map[string]struct {
		statuses []corev1.ContainerStatus
		want     []string
	}{
		"every container that exited 0, install and unrendered ones too": {
			statuses: []corev1.ContainerStatus{exited(render.InstallContainerName, 0), exited(render.ContainerName(img), 0), exited("pull-other", 0), exited("pull-invalid", 0)},
			want:     []string{img, "docker.io/library/busybox:latest", "ghcr.io/prepuller/prepuller:1"},
		},
		"out of order, failures left out": {
			statuses: []corev1.ContainerStatus{exited("pull-other", 1), exited(render.ContainerName(img), 0), exited(render.InstallContainerName, 0)},
			want:     []string{img, "ghcr.io/prepuller/prepuller:1"},
		},
		"status of a container not in the spec": {
			statuses: []corev1.ContainerStatus{exited("gone", 0)},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &corev1.Pod{Spec: spec, Status: corev1.PodStatus{InitContainerStatuses: tc.statuses}}
			if diff := cmp.Diff(tc.want, pulledImages(p, imageref.NewCache(8))); diff != "" {
				t.Errorf("pulled (-want +got):\n%s", diff)
			}
		})
	}
}
