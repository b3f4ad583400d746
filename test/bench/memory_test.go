package bench

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
)

// Scale of the memory benchmark.
const (
	memNodes       = 5000
	memNodeImages  = 50 // kubelet's status.images cap
	memImagePool   = 2000
	memPods        = 100_000
	memUsers       = 20_000
	memUserImages  = 300
	memPullerInits = 30 // the puller's default maxImages
)

// BenchmarkMemory is the heap prepuller's in-memory state takes at scale:
// the node inventory with 5,000 nodes x 50 images each (and one puller pod
// per node with 30 completed pulls), and the learned image set after
// 100,000 user pods. Heap in use after a GC, before and after building,
// with everything kept alive. Run with -benchtime=1x.
func BenchmarkMemory(b *testing.B) {
	b.Run("inventory", func(b *testing.B) {
		for b.Loop() {
			mb := heapDelta(func() any { return buildInventory(false) })
			b.ReportMetric(mb, "heap-MB")
		}
	})
	b.Run("inventory+pullerpods", func(b *testing.B) {
		for b.Loop() {
			mb := heapDelta(func() any { return buildInventory(true) })
			b.ReportMetric(mb, "heap-MB")
		}
	})
	b.Run("userpods", func(b *testing.B) {
		for b.Loop() {
			mb := heapDelta(buildUserPods)
			b.ReportMetric(mb, "heap-MB")
		}
	})
	b.Run("imageset", func(b *testing.B) {
		for b.Loop() {
			mb := heapDelta(func() any { return buildImageSet() })
			b.ReportMetric(mb, "heap-MB")
		}
	})
}

func heapDelta(build func() any) float64 {
	before := heapInUse()
	keep := build()
	after := heapInUse()
	runtime.KeepAlive(keep)
	return float64(after-before) / 1e6
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func buildInventory(pullerPods bool) *inventory.Inventory {
	inv := inventory.New()
	for i := range memNodes {
		name := fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", i/65536, i/256%256, i%256)
		w := it.MakeNode(name)
		for k := range memNodeImages {
			// Digest and tag names, as kubelet reports them.
			img := fmt.Sprintf("registry.example.org/team-%d/env:v%d", (i*13+k*7)%memImagePool, k%5)
			w.Image(int64(5e8+k), img, img+"@sha256:"+fmt.Sprintf("%064d", (i*13+k*7)%memImagePool))
		}
		inv.UpsertNode(w.Obj())
		if pullerPods {
			p := it.MakePullerPod("prepuller-puller-"+fmt.Sprint(i), "prepuller", name).Label("app.kubernetes.io/name", "prepuller-puller")
			for k := range memPullerInits {
				p.Init(fmt.Sprintf("pull-%d", k), fmt.Sprintf("registry.example.org/team-%d/env:v1", k), it.Exited(0))
			}
			inv.UpsertPullerPod(p.Obj())
		}
	}
	return inv
}

// buildUserPods is what every replica keeps of memUsers running user pods
// on memNodes nodes, all created within the burst window: the stripped
// pods its informer stores (inventory.StripUserPod; the store's index is
// not included) and the inventory's arrivals.
func buildUserPods() any {
	scope, err := userpod.DefaultOptions().Scope("prepuller")
	if err != nil {
		panic(err)
	}
	inv := inventory.New()
	h := inventory.UserPodHandler(inv, inventory.UserPodOptions{Scope: scope, SteeringContainer: "notebook"})
	store := make([]any, 0, memUsers)
	for i := range memUsers {
		user := fmt.Sprintf("student-%05d", i)
		p := builder.MakeUserPod("jupyter-"+user, "hub", user).
			Annotation("hub.jupyter.org/servername", "").
			InitContainer("block-cloud-metadata", "quay.io/jupyterhub/k8s-network-tools:4.0.0").
			Container("notebook", fmt.Sprintf("registry.example.org/team-%d/env:v1", i%memImagePool)).
			Node(fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", i%memNodes/65536, i%memNodes/256%256, i%memNodes%256)).
			Phase(corev1.PodRunning).Obj()
		p.CreationTimestamp = metav1.Now() // every one a recent arrival: the most the counts hold
		stripped, err := inventory.StripUserPod(p)
		if err != nil {
			panic(err)
		}
		h.OnAdd(stripped, false)
		store = append(store, stripped)
	}
	return []any{inv, store}
}

func buildImageSet() *imageset.Set {
	set := imageset.New()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range memPods {
		set.Observe(imageset.Sighting{
			Image:       fmt.Sprintf("registry.example.org/team-%d/env:v1", (i*31)%memUserImages),
			Namespace:   "jhub",
			Pod:         fmt.Sprintf("jupyter-user%06d", i),
			User:        fmt.Sprintf("user%06d", i%memUsers),
			PullSecrets: []string{"regcred"},
			PullPolicy:  corev1.PullIfNotPresent,
			Time:        t0.Add(time.Duration(i) * time.Second),
		})
	}
	return set
}
