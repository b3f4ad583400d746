package faults

import (
	"context"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/puller"
)

// Bounds the suite asserts, stated in docs/reliability.md.
const (
	// maxWritesPerMinute bounds prepuller's writes to its DaemonSet and
	// state ConfigMap together: one each per writeInterval, twice over.
	maxWritesPerMinute = 4 * int(time.Minute/writeInterval)
	baselineWindow     = 10 * time.Second
	settleAfter        = 5 * time.Second
)

// fault is one thing going wrong. inject starts it and returns what ends
// it, after hold; recovery is then measured from the end.
type fault struct {
	short bool // runs in make test too
	// controlPlane faults make creates fail for everyone while the API
	// server (or etcd) is down; the suite then asserts that none failed
	// in admission.
	controlPlane bool
	hold         time.Duration
	recovery     time.Duration // bound on the time until everything learned is pulled again
	inject       func(ctx context.Context, t *testing.T, e *env) (end func(), otherWrites func() int)
}

var faults = map[string]fault{
	"leader-killed": {short: true, recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		kill(t, e.leader())
		return nil, nil
	}},
	"follower-killed": {recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		kill(t, e.follower())
		return nil, nil
	}},
	"both-killed": {recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		for _, r := range e.replicas {
			kill(t, r)
		}
		return nil, nil
	}},
	// The replica the API server is calling is frozen: connections to it
	// are accepted and never answered, so each call waits timeoutSeconds.
	"serving-replica-frozen": {hold: 10 * time.Second, recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		r := serving(t, e)
		t.Logf("freezing %s", r.name)
		if err := r.signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		return func() { _ = r.signal(syscall.SIGCONT) }, nil
	}},
	"state-deleted": {recovery: 30 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, e.cmName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		return nil, func() int { return 1 }
	}},
	"state-garbage": {short: true, recovery: 30 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, e.cmName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[puller.StateKey] = `{"images": [{"image": 7, garbage`
		if _, err := e.cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return nil, func() int { return 1 }
	}},
	// Another controller removes an image from the DaemonSet four times a
	// second for the hold.
	"daemonset-fight": {hold: 20 * time.Second, recovery: 30 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		fightCtx, stop := context.WithCancel(ctx)
		var n atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = wait.PollUntilContextCancel(fightCtx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				ds, err := e.cs.AppsV1().DaemonSets(ns).Get(ctx, e.dsName, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				ic := ds.Spec.Template.Spec.InitContainers
				if len(ic) < 2 {
					return false, nil
				}
				ds.Spec.Template.Spec.InitContainers = ic[:len(ic)-1]
				if _, err := e.cs.AppsV1().DaemonSets(ns).Update(ctx, ds, metav1.UpdateOptions{}); err == nil {
					n.Add(1)
				}
				return false, nil
			})
		}()
		return func() { stop(); <-done }, func() int { return int(n.Load()) }
	}},
	// The API server crashes and starts again on the same port,
	// certificates and etcd.
	"apiserver-restarted": {controlPlane: true, recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		api := e.c.Env.ControlPlane.GetAPIServer()
		if err := crash("kube-apiserver", api.CertDir); err != nil {
			t.Fatal(err)
		}
		if err := api.Start(); err != nil {
			t.Fatal(err)
		}
		return nil, nil
	}},
	// etcd crashes and starts again on its data directory.
	"etcd-restarted": {controlPlane: true, recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		etcd := e.c.Env.ControlPlane.Etcd
		if err := crash("etcd", etcd.DataDir); err != nil {
			t.Fatal(err)
		}
		if err := etcd.Start(); err != nil {
			t.Fatal(err)
		}
		return nil, nil
	}},
	// The self-signed certificate's Secret is deleted and a replica restarts
	// while it is gone (a pod restart is routine). Running replicas keep
	// serving from their files; the restarted one cannot start (prepuller
	// may update the Secret, not create it: docs/certificates.md) until the
	// operator applies the install again, which re-creates it empty. The
	// fault ends with that, and recovery is measured from there.
	"certificate-secret-deleted": {short: true, hold: 10 * time.Second, recovery: 30 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		secrets := e.cs.CoreV1().Secrets(ns)
		name := certs.DefaultOptions().SecretName
		if err := secrets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := e.follower()
		kill(t, r)
		return func() {
			if r.readyNow(ctx) {
				t.Errorf("%s started without the Secret: docs/reliability.md says it cannot; update it", r.name)
			}
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
			if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, nil
	}},
	// A quota that forbids new pods (and so new puller pods) in
	// prepuller's namespace.
	"quota-forbids-pods": {hold: 10 * time.Second, recovery: 30 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: ns},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
		if _, err := e.cs.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return func() { _ = e.cs.CoreV1().ResourceQuotas(ns).Delete(ctx, q.Name, metav1.DeleteOptions{}) }, nil
	}},
}

func kill(t *testing.T, r *replica) {
	t.Helper()
	if r == nil {
		t.Fatal("no such replica (no leader yet?)")
	}
	t.Logf("killing %s", r.name)
	if err := r.kill(); err != nil {
		t.Fatal(err)
	}
}

// TestFaults injects each fault while the spawner runs and checks the
// promises: no pod create fails, no learned image is lost, everything
// learned is pulled again within the fault's bound, and prepuller's writes
// stay bounded.
func TestFaults(t *testing.T) {
	// envtest's clients log through controller-runtime's logger.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	all := os.Getenv("PREPULLER_FAULTS") == "1"
	names := make([]string, 0, len(faults))
	for name, f := range faults {
		if all || f.short {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	e := startEnv(ctx, t, true)
	// Warm up: a leader elected and every image the stream has shown so far
	// learned and pulled.
	steady(ctx, t, e, 2*time.Minute)
	t.Logf("| fault | creates ok/attempted | p50 base→fault | p99 base→fault | max base→fault | learned before (kept) | recovery after the fault ended | prepuller writes/min |")
	for _, name := range names {
		t.Run(name, func(t *testing.T) { runFault(ctx, t, e, name, faults[name]) })
	}
}

// steady waits until a leader is elected and the DaemonSet pulls every
// image the state has learned, and returns those images.
func steady(ctx context.Context, t testing.TB, e *env, timeout time.Duration) []string {
	t.Helper()
	var images []string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		set := e.learned(ctx)
		if e.leader() == nil || set == nil || set.Len() < imageCount/2 {
			return false, nil
		}
		images = images[:0]
		for _, en := range set.Entries() {
			images = append(images, en.Image)
		}
		for _, r := range e.replicas {
			if !r.readyNow(ctx) {
				return false, nil
			}
		}
		return e.holds(ctx, images), nil
	})
	if err != nil {
		t.Fatalf("waiting for a steady state: %v (pulled %v)", err, e.pulled(ctx))
	}
	return images
}

func runFault(ctx context.Context, t *testing.T, e *env, name string, f fault) {
	before := steady(ctx, t, e, 2*time.Minute)
	// The spawner keeps creating every image, so an image lost in the
	// fault would soon be learned again: "kept" means the same entry (its
	// first sighting unchanged) or one rebuilt from the DaemonSet.
	firstSeen := map[string]time.Time{}
	if set := e.learned(ctx); set != nil {
		for _, img := range before {
			if en := set.Get(img); en != nil {
				firstSeen[img] = en.FirstSeen
			}
		}
	}
	time.Sleep(baselineWindow)
	start := time.Now()
	base := e.spawner.window(start.Add(-baselineWindow), start)
	baseWrites := e.writes.count("daemonset", start.Add(-baselineWindow), start) + e.writes.count("configmap", start.Add(-baselineWindow), start)

	end, others := f.inject(ctx, t, e)
	time.Sleep(f.hold)
	if end != nil {
		end()
	}
	ended := time.Now()
	var recovered time.Duration
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, f.recovery+30*time.Second, true, func(ctx context.Context) (bool, error) {
		if e.leader() == nil || !e.holds(ctx, before) {
			return false, nil
		}
		for _, r := range e.replicas {
			if !r.readyNow(ctx) {
				return false, nil
			}
		}
		recovered = time.Since(ended)
		return true, nil
	})
	if err != nil {
		t.Errorf("not recovered %s after the fault ended: pulled %v, want all of %v", f.recovery+30*time.Second, e.pulled(ctx), before)
		recovered = time.Since(ended)
	}
	time.Sleep(settleAfter)
	stop := time.Now()
	w := e.spawner.window(start, stop)
	dsWrites, cmWrites, other := e.writes.count("daemonset", start, stop), e.writes.count("configmap", start, stop), 0
	if others != nil {
		other = others()
	}
	perMin := float64(dsWrites+cmWrites-other) / stop.Sub(start).Minutes()
	kept := 0
	if set := e.learned(ctx); set != nil {
		for _, img := range before {
			if en := set.Get(img); en != nil && (en.FirstSeen.Equal(firstSeen[img]) || en.Recovered) {
				kept++
			}
		}
	}
	t.Logf("| %s | %d/%d (%d over 1s) | %s→%s | %s→%s | %s→%s | %d (%d) | %s | %.0f (baseline %.0f; %d DaemonSet, %d ConfigMap changes, %d not prepuller's, in %s) |", name, w.succeeded, w.attempted, w.slow,
		ms(base.p50), ms(w.p50), ms(base.p99), ms(w.p99), ms(base.max), ms(w.max), len(before), kept,
		recovered.Round(100*time.Millisecond), perMin, float64(baseWrites)/baselineWindow.Minutes(),
		dsWrites, cmWrites, other, stop.Sub(start).Round(time.Second))

	switch {
	case w.admission > 0:
		t.Errorf("%d of %d pod creates failed in admission, e.g. %v", w.admission, w.attempted, w.errs)
	case w.succeeded != w.attempted && !f.controlPlane:
		t.Errorf("%d of %d pod creates failed, e.g. %v", w.attempted-w.succeeded, w.attempted, w.errs)
	}
	if kept != len(before) {
		t.Errorf("%d of %d images learned before the fault are no longer learned", len(before)-kept, len(before))
	}
	if recovered > f.recovery {
		t.Errorf("recovery took %s, bound %s", recovered, f.recovery)
	}
	if perMin > float64(maxWritesPerMinute) {
		t.Errorf("prepuller wrote %.0f times a minute (DaemonSet and state), bound %d", perMin, maxWritesPerMinute)
	}
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// serving is the replica the API server is calling.
func serving(t *testing.T, e *env) *replica {
	r := e.byAddr[e.proxy.busiest()]
	if r == nil {
		t.Fatal("the fault proxy routes to no replica")
	}
	return r
}

// Faults together: several at once, each injected as it is alone, ended
// together after the longest hold; the bound is the longest of theirs.
func init() {
	faults["together-leader-killed-state-garbage-fight"] = together("leader-killed", "state-garbage", "daemonset-fight")
	// The replica the API server calls is frozen and the other killed: no
	// replica answers for the hold.
	faults["together-serving-frozen-other-killed"] = fault{hold: 10 * time.Second, recovery: 45 * time.Second, inject: func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		frozen := serving(t, e)
		t.Logf("freezing %s", frozen.name)
		if err := frozen.signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		for _, r := range e.replicas {
			if r != frozen {
				kill(t, r)
			}
		}
		return func() { _ = frozen.signal(syscall.SIGCONT) }, nil
	}}
}

func together(names ...string) fault {
	var all fault
	for _, name := range names {
		f := faults[name]
		all.hold, all.recovery = max(all.hold, f.hold), max(all.recovery, f.recovery)
		all.controlPlane = all.controlPlane || f.controlPlane
	}
	all.inject = func(ctx context.Context, t *testing.T, e *env) (func(), func() int) {
		var ends []func()
		var others []func() int
		for _, name := range names {
			end, other := faults[name].inject(ctx, t, e)
			if end != nil {
				ends = append(ends, end)
			}
			if other != nil {
				others = append(others, other)
			}
		}
		return func() {
				for _, end := range ends {
					end()
				}
			}, func() int {
				n := 0
				for _, other := range others {
					n += other()
				}
				return n
			}
	}
	return all
}
