package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/test/cluster"
)

// waitNodeReady waits for a real node to register and turn Ready, failing
// at once if its kubelet or containerd dies.
func waitNodeReady(ctx context.Context, c client.Client, n *cluster.RealNode) error {
	var node corev1.Node
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := n.Exited(); err != nil {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKey{Name: n.Name}, &node); err != nil {
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready: %w; kubelet log:\n%s", n.Name, err, cluster.TailFile(n.LogPath(), 20))
	}
	return nil
}

// nodeHasImage reports whether the kubelet lists ref in node.status.images.
func nodeHasImage(node *corev1.Node, ref string) bool {
	for _, img := range node.Status.Images {
		for _, n := range img.Names {
			if n == ref {
				return true
			}
		}
	}
	return false
}

// results are the measurements docs/benchmarks.md's "Real nodes" section
// reports; make e2e writes them to $PREPULLER_E2E_RESULTS (JSON).
type results struct {
	// Install is how prepuller was installed: kustomize or helm.
	Install      string  `json:"install"`
	SetupSeconds float64 `json:"setupSeconds"`
	// FirstPodToEveryNode: seconds from creating a user pod with a new
	// image to that image in node.status.images of every node.
	FirstPodToEveryNode map[string]float64 `json:"firstPodToEveryNodeSeconds,omitempty"`
	// FirstPodToPulledEverywhere: to the puller pod's init container for
	// it terminated with exit 0 on every node (polled every 0.5s).
	FirstPodToPulledEverywhere map[string]float64 `json:"firstPodToPulledEverywhereSeconds,omitempty"`
	// PullerGenerationAfterLearn is the DaemonSet's generation once the
	// three images are everywhere (1 = created with them).
	PullerGenerationAfterLearn int64 `json:"pullerGenerationAfterLearn,omitempty"`
	// Pulls are the kubelet's own pull durations (its Pulled events).
	Pulls []pull `json:"pulls,omitempty"`
	// PullerPod is the puller pods' usage from the kubelet's /stats/summary.
	PullerPods []podUsage `json:"pullerPods,omitempty"`
	// PrepullerPods is prepuller's own pods' usage.
	PrepullerPods []podUsage `json:"prepullerPods,omitempty"`
	// LateNodeSeconds: from a new kubelet's start to every learned image in
	// its node.status.images.
	LateNodeSeconds float64 `json:"lateNodeSeconds,omitempty"`
	// LateNodePulledSeconds: to its puller pod's init containers all
	// terminated with exit 0.
	LateNodePulledSeconds float64 `json:"lateNodePulledSeconds,omitempty"`
	// PlacedInPlaceSeconds: in demand mode, from a new image's first user
	// pod to a slot running it on every node, listed by every kubelet.
	PlacedInPlaceSeconds float64 `json:"placedInPlaceSeconds,omitempty"`
	// Failover: the leader pod force-deleted during a burst of creates.
	FailoverCreates      int     `json:"failoverCreates,omitempty"`
	FailoverAnswered     int     `json:"failoverAnsweredByWebhook,omitempty"`
	FailoverTakeoverSecs float64 `json:"failoverTakeoverSeconds,omitempty"`
	// FailoverTakenBySurvivor: the replica that was running all along took
	// the lease (not the Deployment's replacement pod).
	FailoverTakenBySurvivor bool `json:"failoverTakenBySurvivor"`
}

type pull struct {
	Node     string  `json:"node"`
	Pod      string  `json:"pod"`
	Image    string  `json:"image"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MBPerSec float64 `json:"mbPerSec"`
	Message  string  `json:"message"`
}

type podUsage struct {
	Node        string  `json:"node"`
	Pod         string  `json:"pod"`
	MemoryBytes uint64  `json:"workingSetBytes"`
	CPUNanoCore uint64  `json:"cpuNanoCores"`
	CPUSeconds  float64 `json:"cpuSecondsTotal"`
}

func (e *environment) writeResults() {
	path := os.Getenv("PREPULLER_E2E_RESULTS")
	if path == "" {
		path = filepath.Join(os.TempDir(), "prepuller-e2e-results.json")
	}
	data, _ := json.MarshalIndent(e.results, "", "  ")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		logf("writing results: %v", err)
		return
	}
	logf("results in %s", path)
}
