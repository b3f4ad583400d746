package puller_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller"
)

// panickyInventory panics the first times the puller asks it anything, as
// a bug in any step of a sync would.
type panickyInventory struct{ left atomic.Int32 }

func (p *panickyInventory) SizeOf(string) (int64, bool) {
	if p.left.Add(-1) >= 0 {
		panic("a bug in a sync")
	}
	return 0, false
}
func (p *panickyInventory) HolderCount(string) int             { return 0 }
func (p *panickyInventory) EligibleNodes() int                 { return 0 }
func (p *panickyInventory) NodeImages(string) ([]string, bool) { return nil, false }

// A panic in a sync is recovered and retried with backoff: the process (and
// with it every replica's webhook) keeps running and the next sync writes
// the DaemonSet. Before the reconciler, the panic ended the process.
func TestPanicInSyncIsRecovered(t *testing.T) {
	e := newEnv(t)
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: puller.CacheByObject(e.opts, e.ns)},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	scope, err := userpod.Options{PodSelector: e.userSel.String()}.Scope(e.ns)
	if err != nil {
		t.Fatal(err)
	}
	inv := &panickyInventory{}
	inv.left.Store(2)
	if _, err := puller.Setup(mgr, e.opts, puller.Deps{Namespace: e.ns, Scope: scope, Inventory: inv, Metrics: e.reg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	e.waitImages(norm(t, "docker.io/org/a:1"))
	if inv.left.Load() >= 0 {
		t.Fatal("the inventory never panicked: the test proves nothing")
	}
	// controller-runtime counts what it recovered.
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	panics := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "controller_runtime_reconcile_panics_total" {
			for _, m := range mf.GetMetric() {
				panics += m.GetCounter().GetValue()
			}
		}
	}
	if panics < 2 {
		t.Errorf("controller_runtime_reconcile_panics_total = %v, want the 2 panics counted", panics)
	}
}

// A replica that is not the leader holds no user pod and writes nothing:
// user pods are in the leader's own cache.
func TestFollowerHoldsNoUserPods(t *testing.T) {
	e := newEnv(t)
	// Someone else leads for an hour.
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "prepuller", Namespace: e.ns},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("another-replica"),
			LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime:          &metav1.MicroTime{Time: time.Now()},
			RenewTime:            &metav1.MicroTime{Time: time.Now()},
		},
	}
	if err := k8s.Create(e.ctx, lease); err != nil {
		t.Fatal(err)
	}
	inst := e.start(startOpts{leaderElect: true})
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")

	shared := inst.p.Manager.GetCache()
	if !shared.WaitForCacheSync(e.ctx) {
		t.Fatal("cache did not sync")
	}
	// Give a cluster-wide pod informer, were there one, time to see the pod.
	time.Sleep(3 * time.Second)
	var pods corev1.PodList
	err := shared.List(e.ctx, &pods, client.InNamespace(e.userNS))
	if err == nil && len(pods.Items) > 0 {
		t.Errorf("a follower's cache holds %d user pods, want none", len(pods.Items))
	}
	if _, err := e.daemonSet(); !apierrors.IsNotFound(err) {
		t.Errorf("a follower wrote the DaemonSet (get: %v)", err)
	}
	if got := e.counter("prepuller_puller_syncs_total", nil); got != 0 {
		t.Errorf("a follower ran %v syncs", got)
	}
}
