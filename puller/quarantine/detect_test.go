package quarantine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/test/builder"
)

const (
	good = "docker.io/org/good:1"
	bad  = "docker.io/org/bad:1"
)

// puller is a puller pod on node with the install container done and the
// good and bad images in that order.
func puller(node string) *builder.PodWrapper {
	return builder.MakePod("puller-"+node, "prepuller").Node(node).Phase(corev1.PodPending).
		InitContainer("install-noop", "ghcr.io/prepuller/prepuller:1").
		InitContainer("pull-good", "org/good:1"). // short form: normalized
		InitContainer("pull-bad", bad).
		InitDone("install-noop", 0)
}

// installFailing is a puller pod whose install container waits with reason
// (none: set its state yourself).
func installFailing(node, reason string) *builder.PodWrapper {
	w := builder.MakePod("puller-"+node, "prepuller").Node(node).Phase(corev1.PodPending).
		InitContainer("install-noop", "ghcr.io/prepuller/prepuller:1").
		InitContainer("pull-good", good).
		InitWaiting("pull-good", "PodInitializing")
	if reason != "" {
		w.InitWaiting("install-noop", reason)
	}
	return w
}

// slotPod is a placed puller pod on node whose slot-00 runs the good
// image and whose slot-01 has status st (its spec image is st.Image).
func slotPod(node string, st corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "placed-" + node, Namespace: "prepuller"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{
			{Name: "slot-00", Image: good},
			{Name: "slot-01", Image: st.Image},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "slot-00", Image: good, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			st,
		}},
	}
}

// goodOnly is a puller pod that pulled the good image and names no other.
func goodOnly(node string) *corev1.Pod {
	return builder.MakePod("puller-"+node, "prepuller").Node(node).Phase(corev1.PodRunning).
		InitContainer("install-noop", "ghcr.io/prepuller/prepuller:1").
		InitContainer("pull-good", good).
		InitDone("install-noop", 0).InitDone("pull-good", 0).Obj()
}

func TestDetect(t *testing.T) {
	cases := map[string]struct {
		pods        []*corev1.Pod
		minNodes    int
		wantFailing map[string][]string // image -> nodes
		wantPulled  []string
		wantInstall []string // nodes where the install container fails
	}{
		"pull back-off on enough nodes": {
			pods: []*corev1.Pod{
				puller("n1").InitDone("pull-good", 0).InitWaiting("pull-bad", "ImagePullBackOff").Obj(),
				puller("n2").InitDone("pull-good", 0).InitWaiting("pull-bad", "ErrImagePull").Obj(),
				puller("n3").InitWaiting("pull-good", "PodInitializing").Obj(),
			},
			minNodes:    2,
			wantFailing: map[string][]string{bad: {"n1", "n2"}},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1", good},
		},
		"one node is not enough": {
			pods: []*corev1.Pod{
				puller("n1").InitDone("pull-good", 0).InitWaiting("pull-bad", "ImagePullBackOff").Obj(),
				puller("n2").InitDone("pull-good", 0).Obj(),
			},
			minNodes:    2,
			wantFailing: map[string][]string{},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1", good},
		},
		"fewer pods than minNodes: all of them": {
			pods:        []*corev1.Pod{puller("n1").InitWaiting("pull-good", "InvalidImageName").Obj()},
			minNodes:    3,
			wantFailing: map[string][]string{good: {"n1"}},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1"},
		},
		"non-zero exit": {
			pods: []*corev1.Pod{
				puller("n1").InitDone("pull-good", 127).Obj(),
				puller("n2").InitWaiting("pull-good", "CrashLoopBackOff").Obj(),
			},
			minNodes:    2,
			wantFailing: map[string][]string{good: {"n1", "n2"}},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1"},
		},
		"waiting to start is not failing": {
			pods: []*corev1.Pod{
				puller("n1").InitWaiting("pull-good", "PodInitializing").Obj(),
				puller("n2").InitWaiting("pull-good", "ContainerCreating").Obj(),
			},
			minNodes:    1,
			wantFailing: map[string][]string{},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1"},
		},
		"deleted pods do not count": {
			pods: []*corev1.Pod{
				func() *corev1.Pod {
					p := puller("n1").InitWaiting("pull-bad", "ErrImagePull").Obj()
					p.DeletionTimestamp = &metav1.Time{}
					return p
				}(),
				puller("n2").InitDone("pull-good", 0).Obj(),
			},
			minNodes:    1,
			wantFailing: map[string][]string{},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1", good},
		},
		"slots: a back-off fails, a slot restarted for another image does not": {
			pods: []*corev1.Pod{slotPod("n1", corev1.ContainerStatus{Name: "slot-01", Image: bad, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}),
				slotPod("n2", corev1.ContainerStatus{Name: "slot-01", Image: bad, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}),
				// Killed (137) to run the new image, which is being pulled.
				slotPod("n3", corev1.ContainerStatus{Name: "slot-01", Image: good, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}}),
				slotPod("n4", corev1.ContainerStatus{Name: "slot-01", Image: good, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}}),
			},
			minNodes:    2,
			wantFailing: map[string][]string{bad: {"n1", "n2"}},
			wantPulled:  []string{good},
		},
		"an image placed on one node fails there: enough": {
			pods: []*corev1.Pod{
				slotPod("n1", corev1.ContainerStatus{Name: "slot-01", Image: bad, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}),
				goodOnly("n1"), goodOnly("n2"),
			},
			minNodes:    2,
			wantFailing: map[string][]string{bad: {"n1"}},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1", good},
		},
		"no pods": {minNodes: 2, wantFailing: map[string][]string{}},
		"install container cannot be pulled": {
			pods: []*corev1.Pod{
				installFailing("n1", "ErrImagePull").Obj(),
				installFailing("n2", "ImagePullBackOff").Obj(),
			},
			minNodes:    2,
			wantFailing: map[string][]string{},
			wantInstall: []string{"n1", "n2"},
		},
		"install program missing": {
			pods: []*corev1.Pod{
				installFailing("n1", "RunContainerError").Obj(),
				installFailing("n2", "").InitDone("install-noop", 127).Obj(),
			},
			minNodes:    2,
			wantFailing: map[string][]string{},
			wantInstall: []string{"n1", "n2"},
		},
		"install failing on one node of two is not enough": {
			pods: []*corev1.Pod{
				installFailing("n1", "ErrImagePull").Obj(),
				puller("n2").InitDone("pull-good", 0).Obj(),
			},
			minNodes:    2,
			wantFailing: map[string][]string{},
			wantPulled:  []string{"ghcr.io/prepuller/prepuller:1", good},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var pods []corev1.Pod
			for _, p := range tc.pods {
				pods = append(pods, *p)
			}
			rep := Detect(pods, tc.minNodes)
			if diff := cmp.Diff(rep, DetectWith(pods, tc.minNodes, imageref.NewCache(16))); diff != "" {
				t.Errorf("memoized report differs (-uncached +cached):\n%s", diff)
			}
			got := map[string][]string{}
			for img, f := range rep.Failing {
				got[img] = f.Nodes
				if f.Reason == "" {
					t.Errorf("%s: no reason", img)
				}
			}
			if diff := cmp.Diff(tc.wantFailing, got); diff != "" {
				t.Errorf("failing (-want +got):\n%s", diff)
			}
			var pulled []string
			for img := range rep.Pulled {
				pulled = append(pulled, img)
			}
			if diff := cmp.Diff(tc.wantPulled, pulled, sortStrings); diff != "" {
				t.Errorf("pulled (-want +got):\n%s", diff)
			}
			var install []string
			if rep.Install != nil {
				install = rep.Install.Nodes
				if rep.Install.Reason == "" || rep.Install.Image != "ghcr.io/prepuller/prepuller:1" {
					t.Errorf("install failure %+v, want a reason and prepuller's image", rep.Install)
				}
			}
			if diff := cmp.Diff(tc.wantInstall, install); diff != "" {
				t.Errorf("install failing on (-want +got):\n%s", diff)
			}
		})
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})
