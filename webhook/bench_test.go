package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/test/builder"
)

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

type discardRecorder struct{}

func (discardRecorder) Admitted(imageset.Admission) {}

// benchInventory builds n nodes named like cloud nodes, each reporting 50
// images (the kubelet's cap): 44 from a pool of 500 and up to 6 steering
// images held by 50 nodes ("few"), all but 50 ("most"), half ("half"), every
// 20th node ("wide": 250 of 5,000) and every node ("all"). Past 200 nodes
// "half" and "wide" are named by a window of 100 holders. "course" is on
// 50 nodes, half of which took 4 of its 100 arrivals just now: they are
// busy (the busy-holder walk runs) and the term names the other 25.
func benchInventory(n int) *inventory.Inventory {
	inv := inventory.New()
	for i := range n {
		w := it.MakeNode(fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", i/65536, i/256%256, i%256))
		for k := range 44 {
			w.Image(int64(1e8+k), fmt.Sprintf("registry.example.org/pool/image-%d:v1", (i*7+k)%500))
		}
		if i < 50 {
			w.Image(5e9, "docker.io/jupyter/few:1")
		}
		if i >= 50 {
			w.Image(5e9, "docker.io/jupyter/most:1")
		}
		if i%2 == 0 {
			w.Image(5e9, "docker.io/jupyter/half:1")
		}
		if i%20 == 0 {
			w.Image(5e9, "docker.io/jupyter/wide:1")
		}
		w.Image(5e9, "docker.io/jupyter/all:1")
		if i%20 == 1 && i < 1000 {
			w.Image(5e9, "docker.io/jupyter/course:1")
		}
		node := w.Obj()
		inv.UpsertNode(node)
		if i%40 == 1 && i < 1000 {
			for k := range 4 {
				inv.UpsertUserPod(fmt.Sprintf("hub/jupyter-%d-%d", i, k), node.Name, "docker.io/jupyter/course:1", time.Now())
			}
		}
	}
	return inv
}

// BenchmarkHandle measures one admission of a KubeSpawner-like pod (an init
// container, the notebook container, pull secret, username annotation),
// decode to response, for each steering outcome.
func BenchmarkHandle(b *testing.B) {
	for _, nodes := range []int{1000, 5000} {
		inv := benchInventory(nodes)
		for _, image := range []string{"few", "most", "half", "wide", "all", "course"} {
			b.Run(fmt.Sprintf("nodes=%d/image=%s", nodes, image), func(b *testing.B) {
				h, err := NewHandler(DefaultOptions(), testDeps(discardRecorder{}, inv))
				if err != nil {
					b.Fatal(err)
				}
				pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "jupyter/"+image+":1").
					InitContainer("block-cloud-metadata", "quay.io/jupyterhub/k8s-network-tools:4.0.0").
					PullSecret("regcred").Label("hub.jupyter.org/username", "alice").
					Label("app", "jupyterhub").Label("release", "jhub").Obj()
				req := review(b, pod)
				ctx := context.Background()
				var patch []byte // no patch: nothing for the API server to apply
				if ops := h.Handle(ctx, req).Patches; len(ops) > 0 {
					if patch, err = json.Marshal(ops); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu := cpuTime()
				for b.Loop() {
					resp := h.Handle(ctx, req)
					if !resp.Allowed {
						b.Fatal("not allowed")
					}
				}
				// Wall time per op inflates on a shared, loaded machine; the
				// process's CPU time per op (GC included) does much less.
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				// What the API server applies and stores with the pod.
				b.ReportMetric(float64(len(patch)), "patch-bytes")
			})
		}
	}
}

// BenchmarkPresence is the inventory lookup alone.
func BenchmarkPresence(b *testing.B) {
	for _, nodes := range []int{1000, 5000} {
		inv := benchInventory(nodes)
		for _, image := range []string{"few", "most", "half", "wide", "course"} {
			b.Run(fmt.Sprintf("nodes=%d/image=%s", nodes, image), func(b *testing.B) {
				ref := "docker.io/jupyter/" + image + ":1"
				b.ReportAllocs()
				key := uint64(0)
				for b.Loop() {
					key++ // a window at every start
					inv.Presence(ref, 100, key)
				}
			})
		}
	}
}
