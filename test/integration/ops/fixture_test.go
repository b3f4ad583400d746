package ops_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/cmd/prepuller/ops"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
	"prepuller.dev/prepuller/test/cluster"
)

// t0 is the fixture's "now": every time in it is relative to t0, and the
// commands are run at t0, so the output is stable.
var t0 = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

const (
	scipy    = "docker.io/jupyter/scipy-notebook:2024-01-15"
	rnb      = "docker.io/jupyter/r-notebook:2024-01-15"
	newer    = "quay.io/hub/new:1"
	base     = "docker.io/jupyter/base-notebook:2024-01-15" // puller.staticImages
	solo     = "quay.io/hub/solo:1"
	broken   = "quay.io/hub/broken:1"
	fading   = "quay.io/hub/fading:1"
	gibibyte = 1 << 30

	// testLabel on a node names the test namespace it is eligible for.
	testLabel = "ops.test.prepuller.dev/namespace"
)

// fixture creates, in namespace ns, a prepuller that learned six images:
// one on every node, one on some, one chosen but not written yet, one held
// by minUsers 2, one quarantined, one close to its TTL. Nodes are named
// <ns>-0..2 and hold what holdings says.
func fixture(ctx context.Context, t *testing.T, ns string, holdings map[string][]string) {
	t.Helper()
	create(ctx, t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	create(ctx, t, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ops.ConfigMapName},
		// Every test's nodes share the API server; each counts only its own.
		Data: map[string]string{ops.ConfigKey: "puller:\n  minUsers: 2\n  staticImages: [jupyter/base-notebook:2024-01-15]\nuserPods:\n  eligibleNodeSelector: " + testLabel + "=" + ns + "\n"},
	})

	set := imageset.New()
	see := func(img, user string, ago time.Duration) {
		set.Observe(imageset.Sighting{Image: img, Namespace: "hub", Pod: "jupyter-" + user, User: user, Time: t0.Add(-ago)})
	}
	see(scipy, "alice", time.Hour)
	see(scipy, "bob", 2*time.Hour)
	see(scipy, "carol", 3*time.Hour)
	see(rnb, "alice", 5*time.Hour)
	see(rnb, "dave", 6*time.Hour)
	see(newer, "erin", time.Minute)
	see(newer, "frank", time.Minute)
	see(solo, "gina", 30*time.Minute)
	see(broken, "alice", time.Hour)
	see(broken, "bob", time.Hour)
	see(fading, "hal", 7*24*time.Hour-2*time.Hour)
	see(fading, "ivy", 7*24*time.Hour-3*time.Hour)
	set.MarkFailing(broken, t0.Add(-10*time.Minute), imageset.Backoff{Initial: time.Hour, Max: 24 * time.Hour}, "ImagePullBackOff on 3 node(s)")
	set.SetRunning(map[string]int{scipy: 2})
	added := t0.Add(-24 * time.Hour)
	for _, img := range []string{scipy, rnb, fading} {
		set.Get(img).AddedAt = &added
	}
	data, _, err := set.Encode(900<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := puller.DefaultOptions()
	create(ctx, t, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: opts.StateConfigMapName},
		Data:       map[string]string{puller.StateKey: string(data)},
	})

	sel := map[string]string{"app.kubernetes.io/name": "prepuller", "app.kubernetes.io/component": "puller", "prepuller.dev/puller": opts.DaemonSetName}
	ds, err := render.DaemonSet(render.Input{
		Name: opts.DaemonSetName, Namespace: ns, Labels: sel, SelectorLabels: sel,
		PrepullerImage: "prepuller:dev", NoopPath: opts.NoopPath, PauseImage: opts.PauseImage, MaxUnavailable: opts.MaxUnavailable,
		Images: []render.Image{{Image: scipy}, {Image: rnb}, {Image: fading}},
	})
	if err != nil {
		t.Fatal(err)
	}
	create(ctx, t, ds)

	create(ctx, t, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prepuller-leader"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("prepuller-7d9f-abcde_1"),
			LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime:            &metav1.MicroTime{Time: t0.Add(-5 * time.Second)},
		},
	})
	for i := range 3 {
		name := ns + "-" + string(rune('0'+i))
		setNode(ctx, t, name, ns, holdings[name])
	}
}

// setNode creates or updates a Ready node holding images, 1 GiB each.
func setNode(ctx context.Context, t *testing.T, name, ns string, images []string) {
	t.Helper()
	n := &corev1.Node{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
		n = cluster.NewNode(name, cluster.NodeOptions{Labels: map[string]string{testLabel: ns}})
		create(ctx, t, n)
		// Nodes are cluster-wide, and status counts and sizes them all:
		// each test sees only its own.
		t.Cleanup(func() {
			if err := k8s.Delete(context.Background(), n); err != nil {
				t.Errorf("deleting node %s: %v", name, err)
			}
		})
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	n.Status.Images = nil
	for _, img := range images {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{img}, SizeBytes: gibibyte})
	}
	if err := k8s.Status().Update(ctx, n); err != nil {
		t.Fatalf("updating node %s status: %v", name, err)
	}
}

func create(ctx context.Context, t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func stateConfigMap(ctx context.Context, t *testing.T, ns string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: puller.DefaultOptions().StateConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	return cm
}
