package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KwokNodeAnnotation marks the nodes kwok manages.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

var metav1GetOptions = metav1.GetOptions{}

// NodeOptions shape the nodes CreateNodes makes.
type NodeOptions struct {
	Labels map[string]string
	Taints []corev1.Taint
	CPU    string // default "16"
	Memory string // default "64Gi"
}

// NewNode returns a node that kwok will manage, with room for many pods.
func NewNode(name string, opts NodeOptions) *corev1.Node {
	cpu, mem := opts.CPU, opts.Memory
	if cpu == "" {
		cpu = "16"
	}
	if mem == "" {
		mem = "64Gi"
	}
	labels := map[string]string{
		corev1.LabelHostname: name,
		corev1.LabelOSStable: "linux",
		"type":               "kwok",
	}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      labels,
			Annotations: map[string]string{KwokNodeAnnotation: "fake"},
		},
		Spec:   corev1.NodeSpec{Taints: opts.Taints},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
}

// CreateNodes creates count kwok nodes named prefix-0, prefix-1, ...
func CreateNodes(ctx context.Context, c client.Client, prefix string, count int, opts NodeOptions) ([]string, error) {
	names := make([]string, 0, count)
	for i := range count {
		n := NewNode(fmt.Sprintf("%s-%d", prefix, i), opts)
		if err := c.Create(ctx, n); err != nil {
			return names, fmt.Errorf("creating node %s: %w", n.Name, err)
		}
		names = append(names, n.Name)
	}
	return names, nil
}

// SchedulerConfig is a KubeSchedulerConfiguration for kube-scheduler's
// default profile that reads kubeconfig, with API rate limits high enough
// for simulated load and no leader election. Callers append profiles.
func SchedulerConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
`, kubeconfig)
}
