package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func placedInput() Input {
	return Input{
		Name: "p-placed", Namespace: "ns",
		Labels:         map[string]string{"a": "b"},
		SelectorLabels: map[string]string{"a": "b"},
		PrepullerImage: "prepuller:1", NoopPath: "/noop", PauseImage: "pause:1",
	}
}

func TestPlaced(t *testing.T) {
	in := placedInput()
	in.Images = []Image{{Image: "docker.io/library/a:1", PullPolicy: corev1.PullAlways}}
	ds, err := Placed(in, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Spec.UpdateStrategy.Type; got != appsv1.OnDeleteDaemonSetStrategyType {
		t.Errorf("update strategy %s, want OnDelete: a template change must recreate no pod", got)
	}
	spec := &ds.Spec.Template.Spec
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != InstallContainerName {
		t.Errorf("init containers %v, want only the install container", spec.InitContainers)
	}
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
		if diff := cmp.Diff([]string{NoopInPod, "-wait"}, c.Command); diff != "" {
			t.Errorf("%s command (-want +got):\n%s", c.Name, diff)
		}
	}
	if diff := cmp.Diff([]string{"slot-00", "slot-01", "slot-02"}, names); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"docker.io/library/a:1", "", ""}, SlotImages(spec, in.PauseImage)); diff != "" {
		t.Errorf("slot images (-want +got):\n%s", diff)
	}
	if got := spec.Containers[0].ImagePullPolicy; got != corev1.PullAlways {
		t.Errorf("slot pull policy %s, want the image's (Always)", got)
	}

	in.Images = append(in.Images, Image{Image: "b"}, Image{Image: "c"}, Image{Image: "d"})
	if _, err := Placed(in, 3); err == nil {
		t.Error("4 images in 3 slots: no error")
	}
	if _, err := Placed(placedInput(), 0); err == nil {
		t.Error("0 slots: no error")
	}
}

func TestSlotImagesIgnoresOtherContainers(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{
		{Name: "slot-01", Image: "x"},
		{Name: "sidecar", Image: "y"},
		{Name: "slot-1", Image: "z"},
		{Name: "slot-ab", Image: "z"},
	}}
	if diff := cmp.Diff([]string{"", "x"}, SlotImages(spec, "pause")); diff != "" {
		t.Errorf("slot images (-want +got):\n%s", diff)
	}
}

func TestPulled(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	cases := map[string]struct {
		pull Pull
		want bool
	}{
		"init exited 0": {
			pull: Pull{Valid: true, Image: "docker.io/library/a:1", Status: &corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}},
			want: true,
		},
		"init running": {
			pull: Pull{Valid: true, Image: "docker.io/library/a:1", Status: &corev1.ContainerStatus{State: running}},
		},
		"slot running its image": {
			pull: Pull{Slot: true, Valid: true, Image: "docker.io/library/a:1", Status: &corev1.ContainerStatus{Image: "a:1", State: running}},
			want: true,
		},
		"slot still running the image before an in-place change": {
			pull: Pull{Slot: true, Valid: true, Image: "docker.io/library/b:1", Status: &corev1.ContainerStatus{Image: "docker.io/library/a:1", State: running}},
		},
		"slot running, status names an image ID": {
			pull: Pull{Slot: true, Valid: true, Image: "docker.io/library/a:1", Status: &corev1.ContainerStatus{Image: "sha256:", State: running}},
			want: true,
		},
		"slot pulling": {
			pull: Pull{Slot: true, Valid: true, Image: "docker.io/library/a:1", Status: &corev1.ContainerStatus{Image: "docker.io/library/a:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}},
		},
		"no status": {pull: Pull{Slot: true, Valid: true, Image: "a"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tc.pull.Pulled(nil); got != tc.want {
				t.Errorf("Pulled() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAllPullsReadsSlots(t *testing.T) {
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: InstallContainerName, Image: "prepuller:1"}},
			Containers:     []corev1.Container{{Name: "slot-00", Image: "a:1"}, {Name: "slot-01", Image: "pause:1"}},
		},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "slot-00", Image: "docker.io/library/a:1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	var got []string
	for p := range AllPulls(pod, "pause:1", nil) {
		got = append(got, p.Container+"="+p.Image)
		if p.Slot && !p.Pulled(nil) {
			t.Errorf("%s not pulled", p.Container)
		}
	}
	if diff := cmp.Diff([]string{InstallContainerName + "=docker.io/library/prepuller:1", "slot-00=docker.io/library/a:1"}, got); diff != "" {
		t.Errorf("pulls (-want +got):\n%s", diff)
	}
}
