// Package bench holds prepuller's load and overhead benchmarks (`make
// bench`): the admission handler in-process, the webhook server over HTTPS
// on loopback, pod creation through a real API server with and without the
// webhook, and the controller's memory at scale. They are benchmarks only:
// `go test ./test/bench` without -bench runs just the fixture checks.
package bench

import (
	"encoding/json"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
	"prepuller.dev/prepuller/webhook"
)

const (
	ownNamespace = "prepuller"
	hubNamespace = "jhub"
)

// Steering images and the share of nodes holding each: few holders (the
// webhook names them), most (it names those lacking it), half (neither list
// fits under maxAffinityNodes for large clusters), and one nobody holds.
var holderShares = []struct {
	name  string
	share float64
}{
	{"few", 0.05},
	{"half", 0.5},
	{"most", 0.95},
	{"none", 0},
}

func steeringImage(name string) string { return "quay.io/hub/" + name + "-notebook:2026.11" }

// newInventory builds nodes named like cloud nodes, each reporting 50 images
// (kubelet's cap): 46 from a pool of 500 and up to 4 steering images.
func newInventory(nodes int) *inventory.Inventory {
	inv := inventory.New()
	for i := range nodes {
		w := it.MakeNode(fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", i/65536, i/256%256, i%256))
		for k := range 46 {
			w.Image(int64(1e8+k), fmt.Sprintf("registry.example.org/pool/image-%d:v1", (i*7+k)%500))
		}
		for _, h := range holderShares {
			// Spread holders over the node list, as a scheduler would.
			if h.share > 0 && float64((i*37)%nodes) < h.share*float64(nodes) {
				w.Image(5e9, steeringImage(h.name))
			}
		}
		inv.UpsertNode(w.Obj())
	}
	return inv
}

type discardRecorder struct{}

func (discardRecorder) Admitted(imageset.Admission) {}

func newHandler(tb testing.TB, inv *inventory.Inventory) *webhook.Handler {
	tb.Helper()
	scope, err := userpod.DefaultOptions().Scope(ownNamespace)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := webhook.NewHandler(webhook.DefaultOptions(), webhook.Deps{Namespace: ownNamespace, Scope: scope, Recorder: discardRecorder{}, Inventory: inv})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// userPod is a KubeSpawner-like pod under the chart's defaults.
func userPod(name, image string) *corev1.Pod {
	return builder.MakeUserPod(name, hubNamespace, "alice").Container("notebook", image).
		InitContainer("block-cloud-metadata", "quay.io/jupyterhub/k8s-network-tools:4.3.1").
		Label("hub.jupyter.org/username", "alice").Label("app", "jupyterhub").Label("release", "jhub").
		PullSecret("regcred").Obj()
}

func admissionRequest(tb testing.TB, pod *corev1.Pod) admission.Request {
	tb.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "bench",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      pod.Name,
		Namespace: pod.Namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

// TestFixtures checks the inventory gives each steering image its share of
// holders, so the benchmarks measure what their names say.
func TestFixtures(t *testing.T) {
	for _, nodes := range []int{100, 1000} {
		inv := newInventory(nodes)
		for _, h := range holderShares {
			p := inv.Presence(steeringImage(h.name), nodes, 0)
			if want := int(h.share * float64(nodes)); p.Holding != want {
				t.Errorf("%d nodes, image %s: %d holders, want %d", nodes, h.name, p.Holding, want)
			}
			if p.Eligible != nodes {
				t.Errorf("%d nodes: %d eligible", nodes, p.Eligible)
			}
		}
	}
}
