package kubelet

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/test/sim/vclock"
)

// TestKubeletSmoke runs the simulated kubelet against a real API server:
// a pod bound to a node waits for its pulls (each with its fixed cost) and
// its init container's start, then runs, with its init
// container exited 0 and the image in node.status.images; a second pod of
// the same image on that node waits for no pull but still for its two
// container starts; a deletion is confirmed.
func TestKubeletSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := startWithNode(ctx, t)
	var err error
	const image, tools = "quay.io/x/notebook:1", "quay.io/x/tools:1"
	sizes := map[string]int64{image: 2 * gb, tools: 1, "pause": 1}
	type started struct {
		Start
		at time.Duration // simulated time of the OnStarted call
	}
	starts := make(chan started, 4)
	clock := vclock.New(20) // a 20 s pull takes a wall second
	const pullOverhead, containerStart = time.Second, 5 * time.Second
	kl := New(cs, Options{
		Clock:          clock,
		Bandwidth:      100e6,
		PullOverhead:   pullOverhead,
		ContainerStart: containerStart,
		Size:           func(s string) int64 { return sizes[s] },
		Pinned:         []string{"pause"},
		OnStarted:      func(s Start) { starts <- started{s, clock.Now()} },
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- kl.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{
				NodeName:       "n1",
				InitContainers: []corev1.Container{{Name: "init", Image: tools}},
				Containers:     []corev1.Container{{Name: "notebook", Image: image}},
			},
		}
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod("first"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := <-starts
	// The wait is the tools pull (1 s fixed, a byte), the init
	// container's 5 s start, and the notebook pull (1 s + 20 s: 2 GB at
	// 100 MB/s), 27 s, plus the kubelet's own status writes between them,
	// whose wall time the 20x clock scales: on a loaded machine that is a
	// few simulated seconds. The bound below 42 s still catches a pull
	// counted twice.
	if got := first.Running - first.Seen; got < 27*time.Second || got >= 42*time.Second {
		t.Errorf("first pod waited %s, want 27s of pulls and an init container start plus at most a few seconds of status writes", got)
	}
	if len(first.Missing) != 2 {
		t.Errorf("first pod missing %v, want both images", first.Missing)
	}
	var got *corev1.Pod
	poll(ctx, t, "first pod Running", func() bool {
		got, err = cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning
	})
	if n := len(got.Status.InitContainerStatuses); n != 1 {
		t.Fatalf("%d init container statuses, want 1", n)
	}
	if term := got.Status.InitContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 {
		t.Errorf("init container state %+v, want terminated with exit 0", got.Status.InitContainerStatuses[0].State)
	}
	poll(ctx, t, "node.status.images listing the image, largest first", func() bool {
		n, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		return err == nil && len(n.Status.Images) == 3 && n.Status.Images[0].Names[0] == image
	})

	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod("second"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := <-starts
	if second.Running != second.Seen || len(second.Missing) != 0 {
		t.Errorf("second pod waited %s for %v, want no wait", second.Running-second.Seen, second.Missing)
	}
	if got := second.at - second.Seen; got < 2*containerStart {
		t.Errorf("second pod started %s after it was seen, want at least two container starts (%s)", got, 2*containerStart)
	}

	grace := int64(30)
	if err := cs.CoreV1().Pods("default").Delete(ctx, "first", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, "the deletion confirmed", func() bool {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// startWithNode starts an API server with one node, n1.
func startWithNode(ctx context.Context, t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, cluster.NewNode("n1", cluster.NodeOptions{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cs
}

func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestKubeletInPlaceImageUpdate changes a running pod's container image
// through the API server, as prepuller does to a placed puller pod's slot:
// the kubelet pulls the new image (counted like any pull), restarts that
// container and reports it running the new image with restartCount 1; a
// change back to an image still on disk restarts it with no pull.
func TestKubeletInPlaceImageUpdate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := startWithNode(ctx, t)
	var err error
	const small, big = "quay.io/x/pause:1", "quay.io/x/notebook:2"
	sizes := map[string]int64{small: 1, big: 2 * gb}
	clock := vclock.New(20)
	started := make(chan Start, 1)
	restarts := make(chan Restart, 2)
	kl := New(cs, Options{
		Clock:          clock,
		Bandwidth:      100e6,
		PullOverhead:   time.Second,
		ContainerStart: time.Second,
		Size:           func(s string) int64 { return sizes[s] },
		OnStarted:      func(s Start) { started <- s },
		OnRestarted:    func(r Restart) { restarts <- r },
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- kl.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "placed", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{
				{Name: "slot-00", Image: small},
				{Name: "slot-01", Image: small},
			},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	<-started
	pullsBefore := kl.Stats()[0].Pulls

	setImage := func(image string) {
		t.Helper()
		patch := []byte(`{"spec":{"containers":[{"name":"slot-01","image":"` + image + `"}]}}`)
		if _, err := cs.CoreV1().Pods("default").Patch(ctx, "placed", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	next := func() Restart {
		t.Helper()
		select {
		case r := <-restarts:
			return r
		case <-ctx.Done():
			t.Fatal("no container restarted for the new image")
			return Restart{}
		}
	}
	setImage(big)
	r := next()
	if r.Container != "slot-01" || r.Old != small || r.New != big {
		t.Errorf("restart %+v, want slot-01 from %s to %s", r, small, big)
	}
	// 1 s fixed and 20 s for 2 GB at 100 MB/s, then the container's start.
	if got := r.Running - r.Seen; got < 22*time.Second {
		t.Errorf("restart took %s, want the 21 s pull and a 1 s start", got)
	}
	var got *corev1.Pod
	poll(ctx, t, "slot-01 reported running the new image", func() bool {
		got, err = cs.CoreV1().Pods("default").Get(ctx, "placed", metav1.GetOptions{})
		return err == nil && len(got.Status.ContainerStatuses) == 2 && got.Status.ContainerStatuses[1].Image == big
	})
	st := got.Status.ContainerStatuses[1]
	if st.RestartCount != 1 || st.LastTerminationState.Terminated == nil || st.State.Running == nil {
		t.Errorf("slot-01 status %+v, want running, restartCount 1 and a last termination", st)
	}
	if other := got.Status.ContainerStatuses[0]; other.Image != small || other.RestartCount != 0 {
		t.Errorf("slot-00 status %+v, want untouched", other)
	}
	stats := kl.Stats()[0]
	if stats.Pulls != pullsBefore+1 || stats.PulledBytes < 2*gb {
		t.Errorf("after the update: %d pulls (%d before), %d bytes; want one more pull of 2 GB", stats.Pulls, pullsBefore, stats.PulledBytes)
	}

	setImage(small)
	r = next()
	if r.New != small || r.Running-r.Seen >= 21*time.Second {
		t.Errorf("restart back to %s: %+v, want no pull", small, r)
	}
	if n := kl.Stats()[0].Pulls; n != stats.Pulls {
		t.Errorf("%d pulls after returning to an image on disk, want %d", n, stats.Pulls)
	}
	poll(ctx, t, "restartCount 2", func() bool {
		got, err = cs.CoreV1().Pods("default").Get(ctx, "placed", metav1.GetOptions{})
		return err == nil && got.Status.ContainerStatuses[1].RestartCount == 2 && got.Status.ContainerStatuses[1].Image == small
	})
}
