package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// summary is the part of the kubelet's /stats/summary read here.
type summary struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		CPU *struct {
			UsageNanoCores       *uint64 `json:"usageNanoCores"`
			UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds"`
		} `json:"cpu"`
		Memory *struct {
			WorkingSetBytes *uint64 `json:"workingSetBytes"`
		} `json:"memory"`
	} `json:"pods"`
}

// TestResourceUsage reads the puller pods' and prepuller's own memory and
// CPU from each kubelet's /stats/summary (through the API server's node
// proxy), after the pulls above. It fails if a kubelet reports no stats
// for a puller pod.
func TestResourceUsage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pullers, err := pullerPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"node-1", "node-2"} {
		p := pullers[node]
		if p == nil {
			t.Fatalf("no puller pod on %s", node)
		}
		var s summary
		// cadvisor needs two samples for a CPU rate: retry briefly.
		var found bool
		for try := 0; try < 30 && !found; try++ {
			raw, err := env.cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + node + "/proxy/stats/summary").DoRaw(ctx)
			if err != nil {
				t.Fatalf("stats/summary of %s: %v", node, err)
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("decoding stats/summary of %s: %v", node, err)
			}
			found = recordUsage(node, p.Name, s)
			if !found {
				time.Sleep(2 * time.Second)
			}
		}
		if !found {
			t.Errorf("%s reports no memory and CPU for puller pod %s", node, p.Name)
		}
	}
	for _, u := range env.results.PullerPods {
		t.Logf("puller pod %s on %s: working set %.1f MiB, %.2f millicores, %.2f CPU-seconds", u.Pod, u.Node, float64(u.MemoryBytes)/(1<<20), float64(u.CPUNanoCore)/1e6, u.CPUSeconds)
	}
	for _, u := range env.results.PrepullerPods {
		t.Logf("prepuller pod %s on %s: working set %.1f MiB, %.2f millicores, %.2f CPU-seconds", u.Pod, u.Node, float64(u.MemoryBytes)/(1<<20), float64(u.CPUNanoCore)/1e6, u.CPUSeconds)
	}
}

// recordUsage adds the node's prepuller pods and its puller pod to the
// results; it reports whether the puller pod had memory and CPU figures.
func recordUsage(node, puller string, s summary) bool {
	var ok bool
	var pods []podUsage
	for _, p := range s.Pods {
		if p.PodRef.Namespace != prepullerNS || p.CPU == nil || p.Memory == nil ||
			p.CPU.UsageNanoCores == nil || p.Memory.WorkingSetBytes == nil || p.CPU.UsageCoreNanoSeconds == nil {
			continue
		}
		u := podUsage{Node: node, Pod: p.PodRef.Name, MemoryBytes: *p.Memory.WorkingSetBytes,
			CPUNanoCore: *p.CPU.UsageNanoCores, CPUSeconds: float64(*p.CPU.UsageCoreNanoSeconds) / 1e9}
		if p.PodRef.Name == puller {
			ok = true
			env.results.PullerPods = append(env.results.PullerPods, u)
		} else {
			pods = append(pods, u)
		}
	}
	if ok {
		env.results.PrepullerPods = append(env.results.PrepullerPods, pods...)
	}
	return ok
}
