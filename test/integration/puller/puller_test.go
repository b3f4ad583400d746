package puller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/imageset"
	"prepuller.dev/prepuller/puller/render"
)

// Images users run are learned from their pods and pulled, most used first.
func TestLearnsImagesFromPods(t *testing.T) {
	e := newEnv(t)
	e.start(startOpts{})
	created := time.Now()
	e.userPod("jupyter-alice", "alice", "jupyter/scipy-notebook:2024", "busybox")
	e.userPod("jupyter-bob", "bob", "jupyter/scipy-notebook:2024")
	e.userPod("jupyter-carol", "carol", "jupyter/r-notebook:2024")
	ds := e.waitImages(norm(t, "jupyter/scipy-notebook:2024", "jupyter/r-notebook:2024", "busybox"))
	t.Logf("images in the DaemonSet %s after the pods were created (write interval %s)", time.Since(created).Round(10*time.Millisecond), e.opts.WriteInterval.Duration)

	// The live object is what render produced: restricted and tolerant
	// of user nodes.
	spec := ds.Spec.Template.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("service account token mounted")
	}
	if diff := cmp.Diff(e.opts.Tolerations, spec.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	for _, c := range spec.InitContainers[1:] {
		if len(c.Command) != 1 || c.Command[0] != render.NoopInPod {
			t.Errorf("%s runs %v, want the no-op program", c.Name, c.Command)
		}
	}
	if ds.Labels["app.kubernetes.io/managed-by"] != "prepuller" {
		t.Errorf("DaemonSet labels %v do not say prepuller manages it", ds.Labels)
	}
	e.waitEvent(puller.ReasonImageAdded, "docker.io/jupyter/r-notebook:2024")
}

// A burst of pods gives one DaemonSet write, not one per pod or image.
func TestBurstGivesOneWrite(t *testing.T) {
	e := newEnv(t)
	// Wide enough that creating 50 pods fits in one window on a busy CI.
	e.opts.WriteInterval = metav1.Duration{Duration: 5 * time.Second}
	e.start(startOpts{})
	var ds0 = e.waitImages(nil) // created empty at start
	if ds0.Generation != 1 {
		t.Fatalf("generation %d after create, want 1", ds0.Generation)
	}
	writes0 := counter(t, "prepuller_puller_daemonset_writes_total", nil)
	var want []string
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("docker.io/org/img%d:v1", i))
	}
	start := time.Now()
	for i := 0; i < 50; i++ {
		e.userPod(fmt.Sprintf("jupyter-u%d", i), fmt.Sprintf("u%d", i), want[i%10])
	}
	t.Logf("created 50 pods in %s", time.Since(start).Round(time.Millisecond))
	ds := e.waitImages(sortedByName(want))
	// Let more windows pass: nothing else must be written.
	waitSyncs(t, 3)
	ds, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if ds.Generation != 2 {
		t.Errorf("generation %d, want 2 (create + one update for the whole burst)", ds.Generation)
	}
	if got := counter(t, "prepuller_puller_daemonset_writes_total", nil) - writes0; got != 1 {
		t.Errorf("%v DaemonSet writes for the burst, want 1", got)
	}
}

// Every image in the burst has 5 users seen at the same moment, so ties
// are broken by name.
func sortedByName(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A restart (a second prepuller after the first stopped) writes nothing.
func TestRestartDoesNotWrite(t *testing.T) {
	e := newEnv(t)
	first := e.start(startOpts{})
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")
	e.userPod("jupyter-b", "b", "docker.io/org/b:1", "docker.io/org/a:1")
	e.waitImages(norm(t, "docker.io/org/a:1", "docker.io/org/b:1"))
	eventually(t, 10*time.Second, func() (bool, string) {
		s, _, err := e.state()
		if err != nil {
			return false, err.Error()
		}
		return s.Len() == 2, fmt.Sprintf("state holds %d images", s.Len())
	})
	first.stop()
	ds, _ := e.daemonSet()
	_, cm, _ := e.state()

	writes := counter(t, "prepuller_puller_daemonset_writes_total", nil)
	stateWrites := counter(t, "prepuller_puller_state_writes_total", nil)
	e.start(startOpts{})
	waitSyncs(t, 3)
	// A no-op update would keep the resourceVersion: count writes too.
	if got := counter(t, "prepuller_puller_daemonset_writes_total", nil) - writes; got != 0 {
		t.Errorf("%v DaemonSet writes after the restart, want 0", got)
	}
	if got := counter(t, "prepuller_puller_state_writes_total", nil) - stateWrites; got != 0 {
		t.Errorf("%v state writes after the restart, want 0", got)
	}
	ds2, _ := e.daemonSet()
	_, cm2, _ := e.state()
	if ds2.ResourceVersion != ds.ResourceVersion {
		t.Errorf("DaemonSet written on restart: resourceVersion %s -> %s", ds.ResourceVersion, ds2.ResourceVersion)
	}
	if cm2.ResourceVersion != cm.ResourceVersion {
		t.Errorf("state written on restart: resourceVersion %s -> %s", cm.ResourceVersion, cm2.ResourceVersion)
	}
}

// A deleted DaemonSet comes back; a hand edit is reverted.
func TestDaemonSetRestoredAndEditsReverted(t *testing.T) {
	e := newEnv(t)
	e.start(startOpts{})
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")
	want := norm(t, "docker.io/org/a:1")
	ds := e.waitImages(want)

	if err := k8s.Delete(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		got, err := e.daemonSet()
		if err != nil {
			return false, err.Error()
		}
		return got.UID != ds.UID && fmt.Sprint(pulled(got)) == fmt.Sprint(want), "DaemonSet not recreated"
	})

	got, _ := e.daemonSet()
	spec := &got.Spec.Template.Spec
	spec.InitContainers[1].Image = "docker.io/evil/miner:1"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
	spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: "extra", Image: "docker.io/evil/other:1"})
	if err := k8s.Update(e.ctx, got); err != nil {
		t.Fatal(err)
	}
	e.waitImages(want)
	got, _ = e.daemonSet()
	if diff := cmp.Diff(e.opts.Tolerations, got.Spec.Template.Spec.Tolerations); diff != "" {
		t.Errorf("hand-added toleration kept (-want +got):\n%s", diff)
	}
}

// Images known only from the webhook survive a leader change, and the new
// leader does not rewrite the DaemonSet.
func TestLeaderChangeLosesNoImage(t *testing.T) {
	e := newEnv(t)
	a := e.start(startOpts{leaderElect: true})
	e.waitImages(nil) // a leads
	b := e.start(startOpts{leaderElect: true})
	a.rec.Record(imageset.Sighting{Image: "quay.io/only/webhook:1", Namespace: e.userNS, Pod: "jupyter-x", User: "x", Time: time.Now(), Source: imageset.SourceWebhook})
	b.rec.Record(imageset.Sighting{Image: "quay.io/ignored/follower:1", Namespace: e.userNS, Pod: "jupyter-y", User: "y", Time: time.Now(), Source: imageset.SourceWebhook})
	want := []string{"quay.io/only/webhook:1"}
	e.waitImages(want)
	eventually(t, 10*time.Second, func() (bool, string) {
		s, _, err := e.state()
		if err != nil {
			return false, err.Error()
		}
		return s.Get(want[0]) != nil, "image not persisted yet"
	})
	ds, _ := e.daemonSet()
	a.stop()
	syncsBefore := counter(t, "prepuller_puller_syncs_total", nil)
	writes := counter(t, "prepuller_puller_daemonset_writes_total", nil)
	// b takes over and syncs (an instance runs syncs only as leader).
	eventually(t, 30*time.Second, func() (bool, string) {
		return counter(t, "prepuller_puller_syncs_total", nil) >= syncsBefore+3, "new leader not syncing"
	})
	after := e.waitImages(want)
	// The new leader loaded what the old one learned (a rebuilt state
	// would know the image from the DaemonSet only, without its user).
	if s, _, err := e.state(); err != nil || s.Get(want[0]) == nil || s.Get(want[0]).Users["x"].IsZero() {
		t.Errorf("state after the leader change lost the image's user (err %v)", err)
	}
	if got := counter(t, "prepuller_puller_daemonset_writes_total", nil) - writes; got != 0 {
		t.Errorf("%v DaemonSet writes by the new leader, want 0", got)
	}
	if after.ResourceVersion != ds.ResourceVersion {
		t.Errorf("new leader rewrote the DaemonSet: resourceVersion %s -> %s", ds.ResourceVersion, after.ResourceVersion)
	}
	_ = b
}

// A pod created while prepuller was down is learned when it starts.
func TestLearnsPodCreatedWhileDown(t *testing.T) {
	e := newEnv(t)
	e.userPod("jupyter-early", "early", "docker.io/org/early:1")
	e.start(startOpts{})
	e.waitImages(norm(t, "docker.io/org/early:1"))
}

// An image the puller pods cannot pull is taken out; the others stay.
func TestQuarantinesFailingImage(t *testing.T) {
	e := newEnv(t)
	e.opts.FailureMinNodes = 2
	e.start(startOpts{})
	good1, bad, good2 := "docker.io/org/good1:1", "docker.io/org/bad:1", "docker.io/org/good2:1"
	for i := 0; i < 3; i++ {
		e.userPod(fmt.Sprintf("jupyter-g%d", i), fmt.Sprintf("g%d", i), good1)
	}
	e.userPod("jupyter-b0", "b0", bad)
	e.userPod("jupyter-b1", "b1", bad)
	e.userPod("jupyter-c0", "c0", good2)
	ds := e.waitImages([]string{good1, bad, good2})

	// No controller manager here: create the puller pods the DaemonSet
	// controller would, and report what a kubelet would.
	for _, node := range []string{"n1", "n2"} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "puller-" + node, Namespace: e.ns, Labels: ds.Spec.Template.Labels},
			Spec:       *ds.Spec.Template.Spec.DeepCopy(),
		}
		p.Spec.NodeName = node
		if err := k8s.Create(e.ctx, p); err != nil {
			t.Fatal(err)
		}
		init := p.Spec.InitContainers
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: init[0].Name, Image: init[0].Image, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
			{Name: init[1].Name, Image: init[1].Image, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
			{Name: init[2].Name, Image: init[2].Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}},
			{Name: init[3].Name, Image: init[3].Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
		}}
		if err := k8s.Status().Update(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e.waitImages([]string{good1, good2})
	e.waitEvent(puller.ReasonImageQuarantined, bad)
	s, _, err := e.state()
	if err != nil {
		t.Fatal(err)
	}
	q := s.Get(bad).Quarantine
	if q == nil || q.Attempts != 1 || !q.RetryAt.After(q.Since) {
		t.Errorf("state does not record the quarantine: %+v", q)
	}
}

// An image no pod used for the TTL leaves; running pods keep theirs; the
// cap keeps the most used.
func TestTTLAndCap(t *testing.T) {
	e := newEnv(t)
	e.opts.MaxImages = 2
	e.opts.TTL = metav1.Duration{Duration: time.Hour}
	clk := clocktesting.NewFakePassiveClock(time.Now())
	e.start(startOpts{clock: clk})
	a, b, c := "docker.io/org/a:1", "docker.io/org/b:1", "docker.io/org/c:1"
	for i := 0; i < 3; i++ {
		e.userPod(fmt.Sprintf("jupyter-a%d", i), fmt.Sprintf("a%d", i), a)
	}
	e.userPod("jupyter-b0", "b0", b)
	e.userPod("jupyter-b1", "b1", b)
	e.userPod("jupyter-c0", "c0", c)
	e.waitImages([]string{a, b}) // c loses to the cap

	for i := 0; i < 3; i++ {
		e.deletePod(fmt.Sprintf("jupyter-a%d", i))
	}
	waitSyncs(t, 2) // the deletions are seen: a has no running pod
	clk.SetTime(clk.Now().Add(2 * time.Hour))
	// a expires; b and c are still running, so they do not.
	e.waitImages([]string{b, c})
	e.waitEvent(puller.ReasonImageRemoved, a)
}

// A corrupt state is kept aside, reported, and rebuilt without losing the
// images the DaemonSet pulls.
func TestCorruptStateLosesNothing(t *testing.T) {
	e := newEnv(t)
	first := e.start(startOpts{})
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")
	want := norm(t, "docker.io/org/a:1")
	e.waitImages(want)
	eventually(t, 10*time.Second, func() (bool, string) {
		_, _, err := e.state()
		return err == nil, fmt.Sprint(err)
	})
	first.stop()
	e.deletePod("jupyter-a") // the image is now known only to the DaemonSet
	_, cm, _ := e.state()
	cm.Data[puller.StateKey] = `{"version":1,"images":[{"ima`
	if err := k8s.Update(e.ctx, cm); err != nil {
		t.Fatal(err)
	}

	e.start(startOpts{})
	e.waitEvent(puller.ReasonStateCorrupt, "copied to ConfigMap")
	eventually(t, 30*time.Second, func() (bool, string) {
		s, _, err := e.state()
		if err != nil {
			return false, err.Error()
		}
		return s.Get(want[0]) != nil, "rebuilt state lacks the DaemonSet's image"
	})
	e.waitImages(want)
	var list corev1.ConfigMapList
	if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, c := range list.Items {
		if c.Name != e.opts.StateConfigMapName && c.Data[puller.StateKey] == `{"version":1,"images":[{"ima` {
			kept = true
		}
	}
	if !kept {
		t.Error("the corrupt payload was not kept")
	}
}
