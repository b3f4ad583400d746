package puller_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/cmd/prepuller/app"
	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
	"prepuller.dev/prepuller/test/builder"
)

// env is one test's world: prepuller's namespace, a user namespace, and a
// user pod selector of its own, so tests sharing the API server never see
// each other's pods.
type env struct {
	t       *testing.T
	ctx     context.Context
	ns      string
	userNS  string
	id      string
	userSel labels.Selector
	opts    puller.Options
	// reg holds this test's series only: tests do not read each other's.
	reg *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	id := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(id) > 40 {
		id = id[:40]
	}
	id = strings.TrimRight(id, "-")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, ns: "pp-" + id, userNS: "hub-" + id, id: id, reg: prometheus.NewRegistry()}
	e.userSel = labels.SelectorFromSet(labels.Set{"component": "singleuser-server", "test": id})
	for _, ns := range []string{e.ns, e.userNS} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	e.opts = puller.DefaultOptions()
	e.opts.Image = "ghcr.io/prepuller/prepuller:test"
	e.opts.WriteInterval = metav1.Duration{Duration: time.Second}
	e.opts.ResyncInterval = metav1.Duration{Duration: time.Second}
	e.opts.FailureGracePeriod = metav1.Duration{Duration: time.Second}
	// No DaemonSet controller on the bare API server: the DaemonSet's
	// status never says a rollout finished. Tests that wait for rollouts
	// set it (TestWriteWaitsForRollout plays the controller, the kcm
	// suites have the real one).
	e.opts.RolloutWait = metav1.Duration{}
	return e
}

// instance is one running prepuller: the production wiring (app.New, as
// `prepuller serve` builds it), with the test's clock, metrics registry and
// leases. Its webhook server waits for certificates that never come
// (certs.mode files, an empty directory): these suites drive the puller
// through real pods, not admissions.
type instance struct {
	p    *app.Prepuller
	stop func()
}

type startOpts struct {
	clock       clock.PassiveClock
	leaderElect bool
	config      *rest.Config
}

// config is prepuller's configuration for this test's world.
func (e *env) config(so startOpts) config.Config {
	c := config.Default()
	c.Namespace = e.ns
	c.MetricsBindAddress = "0"
	c.HealthProbeBindAddress = "0"
	c.LeaderElection = config.LeaderElection{Enabled: so.leaderElect, ID: "prepuller"}
	c.UserPods.PodSelector = e.userSel.String()
	c.Webhook.CertDir = e.t.TempDir()
	c.Certs.Mode = certs.ModeFiles
	c.Puller = e.opts
	return c
}

func (e *env) start(so startOpts) *instance {
	e.t.Helper()
	rc := so.config
	if rc == nil {
		rc = cfg
	}
	p, err := app.New(rc, e.config(so), app.Seams{
		Clock:   so.clock,
		Metrics: e.reg,
		Manager: func(o *ctrl.Options) {
			o.LeaseDuration = ptr.To(4 * time.Second)
			o.RenewDeadline = ptr.To(3 * time.Second)
			o.RetryPeriod = ptr.To(500 * time.Millisecond)
			o.GracefulShutdownTimeout = ptr.To(5 * time.Second)
			// Several managers in one process: their controllers share
			// the name "puller".
			o.Controller.SkipNameValidation = ptr.To(true)
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Manager.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("manager: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return &instance{p: p, stop: stop}
}

// userPod creates a singleuser pod for user running image.
func (e *env) userPod(name, user string, images ...string) *corev1.Pod {
	e.t.Helper()
	w := builder.MakeUserPod(name, e.userNS, user).Label("test", e.id)
	for _, img := range images {
		w.Image(img)
	}
	p := w.Obj()
	if err := k8s.Create(e.ctx, p); err != nil {
		e.t.Fatalf("creating pod %s: %v", name, err)
	}
	return p
}

func (e *env) deletePod(name string) {
	e.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.userNS}}
	if err := k8s.Delete(e.ctx, p, client.GracePeriodSeconds(0)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) daemonSet() (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	err := k8s.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: e.opts.DaemonSetName}, &ds)
	return &ds, err
}

// pulled returns the images the DaemonSet pulls, in order.
func pulled(ds *appsv1.DaemonSet) []string {
	var out []string
	for _, c := range ds.Spec.Template.Spec.InitContainers {
		if c.Name != render.InstallContainerName {
			out = append(out, c.Image)
		}
	}
	return out
}

func norm(t *testing.T, images ...string) []string {
	t.Helper()
	var out []string
	for _, img := range images {
		n, err := imageref.Normalize(img)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// waitImages waits until the DaemonSet pulls exactly want, in order.
func (e *env) waitImages(want []string) *appsv1.DaemonSet {
	e.t.Helper()
	var ds *appsv1.DaemonSet
	var last []string
	eventually(e.t, 30*time.Second, func() (bool, string) {
		var err error
		ds, err = e.daemonSet()
		if err != nil {
			return false, err.Error()
		}
		last = pulled(ds)
		return fmt.Sprint(last) == fmt.Sprint(want), fmt.Sprintf("DaemonSet pulls %v, want %v", last, want)
	})
	return ds
}

// waitImageSet waits until the DaemonSet pulls exactly want, in any order.
func (e *env) waitImageSet(want []string) *appsv1.DaemonSet {
	e.t.Helper()
	var ds *appsv1.DaemonSet
	want = append([]string(nil), want...)
	sort.Strings(want)
	eventually(e.t, 30*time.Second, func() (bool, string) {
		var err error
		ds, err = e.daemonSet()
		if err != nil {
			return false, err.Error()
		}
		got := pulled(ds)
		sort.Strings(got)
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("DaemonSet pulls %v, want %v in any order", got, want)
	})
	return ds
}

func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var msg string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, msg = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s: %s", timeout, msg)
}

// counter reads a prepuller counter from the test's own registry (summed
// over every instance of the test).
func (e *env) counter(name string, lbls map[string]string) float64 {
	t := e.t
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := lbls[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// gauge reads an unlabelled prepuller gauge from the test's registry.
func (e *env) gauge(name string) float64 {
	t := e.t
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// waitSyncs waits until n more puller syncs ran (in any instance).
func (e *env) waitSyncs(n int) {
	t := e.t
	t.Helper()
	start := e.counter("prepuller_puller_syncs_total", nil)
	eventually(t, 30*time.Second, func() (bool, string) {
		got := e.counter("prepuller_puller_syncs_total", nil) - start
		return got >= float64(n), fmt.Sprintf("%v of %d syncs", got, n)
	})
}

// state reads the persisted image set.
func (e *env) state() (*imageset.Set, *corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	if err := k8s.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: e.opts.StateConfigMapName}, &cm); err != nil {
		return nil, nil, err
	}
	s, err := imageset.Decode([]byte(cm.Data[puller.StateKey]))
	return s, &cm, err
}

// events returns the notes of Events with reason in prepuller's namespace.
func (e *env) events(reason string) []string {
	e.t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.Reason == reason {
			out = append(out, ev.Note)
		}
	}
	return out
}

func (e *env) waitEvent(reason, contains string) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, func() (bool, string) {
		notes := e.events(reason)
		for _, n := range notes {
			if strings.Contains(n, contains) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s event mentioning %q in %q", reason, contains, notes)
	})
}

// setRollout writes the DaemonSet's status as the DaemonSet controller
// would with updated of desired nodes running a pod of the current
// template.
func (e *env) setRollout(ds *appsv1.DaemonSet, desired, updated int32) {
	e.t.Helper()
	ds = ds.DeepCopy()
	ds.Status = appsv1.DaemonSetStatus{
		ObservedGeneration:     ds.Generation,
		DesiredNumberScheduled: desired,
		CurrentNumberScheduled: desired,
		UpdatedNumberScheduled: updated,
	}
	if err := k8s.Status().Update(e.ctx, ds); err != nil {
		e.t.Fatal(err)
	}
}

// shiftedClock runs with real time, shifted by what the test skips ahead:
// the puller's timers (window, rollout hold, resync) keep moving while a
// test jumps over a TTL.
type shiftedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

var _ clock.PassiveClock = &shiftedClock{}

func (c *shiftedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Skip moves the clock forward by d.
func (c *shiftedClock) Skip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
