package quarantine

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/puller/render"
)

// BenchmarkDetect reads 1,000 puller pods of 30 images each, the work of one
// sync on a large cluster: without a memo every image is parsed again
// (30,000 parses), with the controller's cache each once. Run both in one
// go test invocation and compare: the ratio is the normalization saved.
func BenchmarkDetect(b *testing.B) {
	const nodes, images = 1000, 30
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	spec := corev1.PodSpec{InitContainers: []corev1.Container{{Name: render.InstallContainerName, Image: "ghcr.io/prepuller/prepuller:1"}}}
	statuses := []corev1.ContainerStatus{{Name: render.InstallContainerName, State: done}}
	for i := 0; i < images; i++ {
		img := fmt.Sprintf("registry.example.org/research/notebook-%02d:2026.12", i)
		spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: render.ContainerName(img), Image: img})
		statuses = append(statuses, corev1.ContainerStatus{Name: render.ContainerName(img), State: done})
	}
	pods := make([]corev1.Pod, nodes)
	for i := range pods {
		pods[i].Name = fmt.Sprintf("puller-%d", i)
		pods[i].Spec = spec
		pods[i].Spec.NodeName = fmt.Sprintf("node-%d", i)
		pods[i].Status.Phase = corev1.PodPending
		pods[i].Status.InitContainerStatuses = statuses
	}
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			DetectWith(pods, 2, nil)
		}
	})
	b.Run("cached", func(b *testing.B) {
		norm := imageref.NewCache(1024) // the controller's lives across syncs
		b.ReportAllocs()
		for b.Loop() {
			DetectWith(pods, 2, norm)
		}
	})
}
