package puller_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
)

// Images users run are learned from their pods and pulled.
func TestLearnsImagesFromPods(t *testing.T) {
	e := newEnv(t)
	e.start(startOpts{})
	created := time.Now()
	e.userPod("jupyter-alice", "alice", "jupyter/scipy-notebook:2024", "busybox")
	e.userPod("jupyter-bob", "bob", "jupyter/scipy-notebook:2024")
	e.userPod("jupyter-carol", "carol", "jupyter/r-notebook:2024")
	// In whatever order: the pods may arrive in one window or several.
	ds := e.waitImageSet(norm(t, "jupyter/scipy-notebook:2024", "jupyter/r-notebook:2024", "busybox"))
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
//
// Deterministic, not timed: the burst is created while prepuller is down
// (the DaemonSet exists, created empty by an earlier run), so it is all in
// the cache before the first sync, however slowly the pods are created.
// The sync then has 50 pods and 10 new images to handle at once.
func TestBurstGivesOneWrite(t *testing.T) {
	e := newEnv(t)
	first := e.start(startOpts{})
	ds0 := e.waitImages(nil) // created empty at start
	if ds0.Generation != 1 {
		t.Fatalf("generation %d after create, want 1", ds0.Generation)
	}
	first.stop()

	var want []string
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("docker.io/org/img%d:v1", i))
	}
	for i := 0; i < 50; i++ {
		e.userPod(fmt.Sprintf("jupyter-u%d", i), fmt.Sprintf("u%d", i), want[i%10])
	}
	writes0 := e.counter("prepuller_puller_daemonset_writes_total", nil)
	e.start(startOpts{})
	e.waitImages(sortedByName(want))
	// Let more windows pass: nothing else must be written.
	e.waitSyncs(3)
	ds, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if ds.Generation != 2 {
		t.Errorf("generation %d, want 2 (create + one update for the whole burst)", ds.Generation)
	}
	if got := e.counter("prepuller_puller_daemonset_writes_total", nil) - writes0; got != 1 {
		t.Errorf("%v DaemonSet writes for the burst, want 1", got)
	}
}

// Images added in one write are pulled in name order.
func sortedByName(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// A re-rank of the same images (the least used becomes the most used)
// writes nothing: the pull order is stable, and a template change would
// roll every puller pod.
func TestReRankDoesNotWrite(t *testing.T) {
	e := newEnv(t)
	e.start(startOpts{})
	a, b := "docker.io/org/a:1", "docker.io/org/b:1"
	e.userPod("jupyter-a0", "a0", a)
	e.userPod("jupyter-a1", "a1", a)
	e.userPod("jupyter-b0", "b0", b)
	e.waitImages([]string{a, b})
	// The controller counts a write after the API server has it, so the
	// test can see the DaemonSet before the counter moves: let the writing
	// sync finish before taking the baseline.
	e.waitSyncs(1)
	ds, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	writes := e.counter("prepuller_puller_daemonset_writes_total", nil)

	for i := 1; i <= 3; i++ {
		e.userPod(fmt.Sprintf("jupyter-b%d", i), fmt.Sprintf("b%d", i), b)
	}
	// The state is written as soon as b's users change: by then the
	// controller has ranked b first.
	eventually(t, 30*time.Second, func() (bool, string) {
		s, _, err := e.state()
		if err != nil {
			return false, err.Error()
		}
		return s.Get(b) != nil && len(s.Get(b).Users) == 4, "b's new users not learned yet"
	})
	e.waitSyncs(3)
	got, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a, b}, pulled(got)); diff != "" {
		t.Errorf("pull order changed with the rank (-want +got):\n%s", diff)
	}
	if n := e.counter("prepuller_puller_daemonset_writes_total", nil) - writes; n != 0 {
		t.Errorf("%v DaemonSet writes after a re-rank, want 0", n)
	}
	if got.ResourceVersion != ds.ResourceVersion {
		t.Errorf("DaemonSet written after a re-rank: resourceVersion %s -> %s", ds.ResourceVersion, got.ResourceVersion)
	}
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
	// The resourceVersions of the DaemonSet and the state ConfigMap.
	versions := func(when string) (string, string) {
		t.Helper()
		ds, err := e.daemonSet()
		if err != nil {
			t.Fatalf("reading the DaemonSet %s the restart: %v", when, err)
		}
		_, cm, err := e.state()
		if err != nil {
			t.Fatalf("reading the state %s the restart: %v", when, err)
		}
		return ds.ResourceVersion, cm.ResourceVersion
	}
	dsRV, cmRV := versions("before")

	writes := e.counter("prepuller_puller_daemonset_writes_total", nil)
	stateWrites := e.counter("prepuller_puller_state_writes_total", nil)
	e.start(startOpts{})
	e.waitSyncs(3)
	// A no-op update would keep the resourceVersion: count writes too.
	if got := e.counter("prepuller_puller_daemonset_writes_total", nil) - writes; got != 0 {
		t.Errorf("%v DaemonSet writes after the restart, want 0", got)
	}
	if got := e.counter("prepuller_puller_state_writes_total", nil) - stateWrites; got != 0 {
		t.Errorf("%v state writes after the restart, want 0", got)
	}
	dsRV2, cmRV2 := versions("after")
	if dsRV2 != dsRV {
		t.Errorf("DaemonSet written on restart: resourceVersion %s -> %s", dsRV, dsRV2)
	}
	if cmRV2 != cmRV {
		t.Errorf("state written on restart: resourceVersion %s -> %s", cmRV, cmRV2)
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
	// The restore says so: a metric, and a Warning naming the way to
	// find the other writer. Re-creating a deleted DaemonSet is not one.
	e.waitEvent(puller.ReasonDaemonSetEdited, "Another client changed")
	if n := e.counter("prepuller_puller_daemonset_reverts_total", nil); n != 1 {
		t.Errorf("reverts counted %v, want 1", n)
	}

	// Edits DeepDerivative alone would not see (desired leaves these
	// fields empty) are reverted too; `kubectl rollout restart`'s
	// annotation survives prepuller's write.
	spec = &got.Spec.Template.Spec
	spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
	spec.SecurityContext.SupplementalGroups = []int64{0}
	got.Spec.Template.Annotations = map[string]string{render.RestartedAtAnnotation: "2026-01-01T00:00:00Z"}
	if err := k8s.Update(e.ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		ds, err := e.daemonSet()
		if err != nil {
			return false, err.Error()
		}
		spec := &ds.Spec.Template.Spec
		return len(spec.Containers[0].SecurityContext.Capabilities.Add) == 0 && len(spec.SecurityContext.SupplementalGroups) == 0,
			fmt.Sprintf("hand edits kept: capabilities %v, supplemental groups %v", spec.Containers[0].SecurityContext.Capabilities.Add, spec.SecurityContext.SupplementalGroups)
	})
	got, _ = e.daemonSet()
	if at := got.Spec.Template.Annotations[render.RestartedAtAnnotation]; at != "2026-01-01T00:00:00Z" {
		t.Errorf("restartedAt annotation %q after prepuller's write, want it kept", at)
	}
}

// A state that cannot be saved does not hold back the DaemonSet: it is
// reported (Warning Event, metric) and the images are pulled anyway.
func TestStateErrorDoesNotBlockDaemonSet(t *testing.T) {
	e := newEnv(t)
	// An immutable ConfigMap: every update of the state fails.
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: e.opts.StateConfigMapName, Namespace: e.ns},
		Data:       map[string]string{puller.StateKey: `{"version":1,"images":[]}`},
		Immutable:  ptr.To(true),
	}
	if err := k8s.Create(e.ctx, cm); err != nil {
		t.Fatal(err)
	}
	errs := e.counter("prepuller_puller_state_errors_total", nil)
	e.start(startOpts{})
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")
	e.waitImages(norm(t, "docker.io/org/a:1"))
	e.waitEvent(puller.ReasonStateNotSaved, e.opts.StateConfigMapName)
	if got := e.counter("prepuller_puller_state_errors_total", nil) - errs; got < 1 {
		t.Errorf("%v state errors counted, want at least 1", got)
	}
}

// A wrong puller.image (the install container cannot be pulled) is
// reported: a Warning Event on the DaemonSet and a gauge.
func TestInstallFailureReported(t *testing.T) {
	e := newEnv(t)
	e.start(startOpts{})
	e.userPod("jupyter-a", "a", "docker.io/org/a:1")
	ds := e.waitImages(norm(t, "docker.io/org/a:1"))
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
			{Name: init[0].Name, Image: init[0].Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}},
			{Name: init[1].Name, Image: init[1].Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
		}}
		if err := k8s.Status().Update(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e.waitEvent(puller.ReasonInstallFailing, e.opts.Image)
	eventually(t, 10*time.Second, func() (bool, string) {
		v := e.gauge("prepuller_puller_install_failing")
		return v == 1, fmt.Sprintf("prepuller_puller_install_failing = %v", v)
	})
	// The image behind it is not failing itself: not quarantined.
	if s, _, err := e.state(); err != nil || s.Get("docker.io/org/a:1").Quarantine != nil {
		t.Errorf("image behind a failing install quarantined (err %v)", err)
	}
	for _, node := range []string{"n1", "n2"} {
		if err := k8s.Delete(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "puller-" + node, Namespace: e.ns}}, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		v := e.gauge("prepuller_puller_install_failing")
		return v == 0, fmt.Sprintf("prepuller_puller_install_failing = %v after the pods left", v)
	})
}

// Images whose pods are gone, known only from the state, survive a leader
// change, and the new leader does not rewrite the DaemonSet.
func TestLeaderChangeLosesNoImage(t *testing.T) {
	e := newEnv(t)
	a := e.start(startOpts{leaderElect: true})
	e.waitImages(nil) // a leads
	b := e.start(startOpts{leaderElect: true})
	e.userPod("jupyter-x", "x", "quay.io/only/state:1")
	want := []string{"quay.io/only/state:1"}
	e.waitImages(want)
	e.deletePod("jupyter-x")
	eventually(t, 10*time.Second, func() (bool, string) {
		s, _, err := e.state()
		if err != nil {
			return false, err.Error()
		}
		return s.Get(want[0]) != nil, "image not persisted yet"
	})
	ds, _ := e.daemonSet()
	a.stop()
	syncsBefore := e.counter("prepuller_puller_syncs_total", nil)
	writes := e.counter("prepuller_puller_daemonset_writes_total", nil)
	// b takes over and syncs (an instance runs syncs only as leader).
	eventually(t, 30*time.Second, func() (bool, string) {
		return e.counter("prepuller_puller_syncs_total", nil) >= syncsBefore+3, "new leader not syncing"
	})
	after := e.waitImages(want)
	// The new leader loaded what the old one learned (a rebuilt state
	// would know the image from the DaemonSet only, without its user).
	if s, _, err := e.state(); err != nil || s.Get(want[0]) == nil || s.Get(want[0]).Users["x"].IsZero() {
		t.Errorf("state after the leader change lost the image's user (err %v)", err)
	}
	if got := e.counter("prepuller_puller_daemonset_writes_total", nil) - writes; got != 0 {
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
	// The rollout never finishes here (nothing updates the DaemonSet's
	// status): taking a quarantined image out must not wait for it.
	e.opts.RolloutWait = metav1.Duration{Duration: time.Hour}
	good1, bad, good2 := "docker.io/org/a-good:1", "docker.io/org/b-bad:1", "docker.io/org/c-good:1"
	for i := 0; i < 3; i++ {
		e.userPod(fmt.Sprintf("jupyter-g%d", i), fmt.Sprintf("g%d", i), good1)
	}
	e.userPod("jupyter-b0", "b0", bad)
	e.userPod("jupyter-b1", "b1", bad)
	e.userPod("jupyter-c0", "c0", good2)
	// Started after the pods: all three go in with the first write, in
	// name order, so the bad image sits between the good ones.
	e.start(startOpts{})
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
	clk := &shiftedClock{}
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
	e.waitSyncs(2) // the deletions are seen: a has no running pod
	clk.Skip(2 * time.Hour)
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
	corruptRV := cm.ResourceVersion

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
	// One copy, named after the corrupt version: a retried recovery
	// would find it instead of adding another.
	var copies []string
	for _, c := range list.Items {
		if c.Name != e.opts.StateConfigMapName && c.Data[puller.StateKey] == `{"version":1,"images":[{"ima` {
			copies = append(copies, c.Name)
		}
	}
	if diff := cmp.Diff([]string{e.opts.StateConfigMapName + "-corrupt-" + corruptRV}, copies); diff != "" {
		t.Errorf("copies of the corrupt payload (-want +got):\n%s", diff)
	}
}

// A corrupt state while another client has cut an image from the
// DaemonSet's template (faults together, docs/reliability.md): the image is
// still recovered, from the tallies the template edit left in place, and
// pulled again.
func TestCorruptStateAndEditedTemplateLoseNothing(t *testing.T) {
	e := newEnv(t)
	first := e.start(startOpts{})
	a, b := "docker.io/org/a:1", "docker.io/org/b:1"
	e.userPod("jupyter-a", "a", a)
	e.userPod("jupyter-b", "b", b)
	want := norm(t, a, b)
	e.waitImageSet(want)
	eventually(t, 10*time.Second, func() (bool, string) {
		s, _, err := e.state()
		return err == nil && s.Len() == 2, fmt.Sprint(err)
	})
	first.stop()
	e.deletePod("jupyter-a")
	e.deletePod("jupyter-b") // both images are now known only to the DaemonSet
	ds, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	cut := ds.Spec.Template.Spec.InitContainers[:0]
	for _, c := range ds.Spec.Template.Spec.InitContainers {
		if c.Image != want[1] {
			cut = append(cut, c)
		}
	}
	if len(cut) == len(ds.Spec.Template.Spec.InitContainers) {
		t.Fatalf("no init container pulls %s", want[1])
	}
	ds.Spec.Template.Spec.InitContainers = cut
	if err := k8s.Update(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	_, cm, _ := e.state()
	cm.Data[puller.StateKey] = "garbage"
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
		for _, img := range want {
			if en := s.Get(img); en == nil || !en.Recovered {
				return false, fmt.Sprintf("rebuilt state: %s missing or not recovered", img)
			}
		}
		return true, ""
	})
	e.waitImageSet(want)
}

// A write waits until the DaemonSet controller has replaced every puller
// pod for the previous one; what is learned meanwhile goes out in one
// write once it has.
//
// No controller manager here: the test writes the DaemonSet's status the
// way the DaemonSet controller would.
func TestWriteWaitsForRollout(t *testing.T) {
	e := newEnv(t)
	e.opts.RolloutWait = metav1.Duration{Duration: time.Hour}
	// A rollout that does not move for 6 windows is let go: 30 s here,
	// well past the few seconds the held part of this test takes.
	e.opts.WriteInterval = metav1.Duration{Duration: 5 * time.Second}
	e.start(startOpts{})
	a, b, c := "docker.io/org/a:1", "docker.io/org/b:1", "docker.io/org/c:1"
	e.userPod("jupyter-a", "a", a)
	ds := e.waitImages([]string{a}) // a create is never held
	writes := e.counter("prepuller_puller_daemonset_writes_total", nil)

	// Three nodes, one replaced so far.
	e.setRollout(ds, 3, 1)
	held := e.counter("prepuller_puller_daemonset_writes_held_total", map[string]string{"reason": "rollout"})
	e.userPod("jupyter-b", "b", b)
	eventually(t, 30*time.Second, func() (bool, string) {
		got := e.counter("prepuller_puller_daemonset_writes_held_total", map[string]string{"reason": "rollout"}) - held
		return got >= 1, "no write held for the rollout"
	})
	e.userPod("jupyter-c", "c", c)
	e.waitSyncs(2) // c is learned too, and still held
	ds, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if got := pulled(ds); fmt.Sprint(got) != fmt.Sprint([]string{a}) {
		t.Fatalf("DaemonSet written during the rollout: pulls %v", got)
	}

	// Every node replaced: b and c go out together.
	e.setRollout(ds, 3, 3)
	e.waitImageSet([]string{a, b, c})
	if got := e.counter("prepuller_puller_daemonset_writes_total", nil) - writes; got != 1 {
		t.Errorf("%v DaemonSet writes after the rollout, want 1", got)
	}
}
