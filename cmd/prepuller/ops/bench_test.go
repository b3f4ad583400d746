package ops

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
)

// benchSnapshot is a large hub: 200 learned images (puller.maxImages'
// bound), 30 pulled, 1000 nodes each holding the pulled ones and 20 more.
func benchSnapshot(b *testing.B) *Snapshot {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := config.Default()
	rules, err := cfg.Puller.Rules(nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &Snapshot{Now: now, Config: cfg, Rules: rules, State: imageset.New(),
		Inventory: inventory.NewWithOptions(inventory.Options{EligibleNodeSelector: labels.Everything()})}
	img := func(i int) string { return fmt.Sprintf("registry.example.com/hub/image-%d:v1", i) }
	for i := range 200 {
		for u := range 1 + i%5 {
			s.State.Observe(imageset.Sighting{Image: img(i), Namespace: "hub", Pod: fmt.Sprintf("p-%d-%d", i, u), User: fmt.Sprintf("u%d", u), Time: now.Add(-time.Hour)})
		}
		if i < 30 {
			s.Pulled = append(s.Pulled, img(i))
		}
	}
	for n := range 1000 {
		node := &corev1.Node{}
		node.Name = fmt.Sprintf("node-%d", n)
		node.Labels = map[string]string{corev1.LabelHostname: node.Name}
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		for i := range 30 {
			node.Status.Images = append(node.Status.Images, corev1.ContainerImage{Names: []string{img(i)}, SizeBytes: 1 << 30})
		}
		for i := range 20 {
			node.Status.Images = append(node.Status.Images, corev1.ContainerImage{Names: []string{img(30 + (n+i)%170)}, SizeBytes: 1 << 30})
		}
		s.Inventory.UpsertNode(node)
	}
	return s
}

// BenchmarkBuildStatus is the work of one prepuller status after the API
// reads.
func BenchmarkBuildStatus(b *testing.B) {
	s := benchSnapshot(b)
	b.ResetTimer()
	for b.Loop() {
		BuildStatus(s)
	}
}

// BenchmarkMeasure is the work of one await poll after the API reads.
func BenchmarkMeasure(b *testing.B) {
	s := benchSnapshot(b)
	images, err := Wanted(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		Measure(s, images)
	}
}
