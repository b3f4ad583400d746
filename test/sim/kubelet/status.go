package kubelet

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostIP is the address kwok gives its nodes (see test/cluster).
const hostIP = "10.99.0.1"

// statusWriter builds the pod status a kubelet would report as the pod
// moves from pulling to running. Timestamps are wall time: they are read by
// controllers that run on the wall clock.
type statusWriter struct {
	pod     *corev1.Pod
	ip      string
	started metav1.Time
	inits   []corev1.ContainerStatus
	inited  int
	// The containers' running images, restart counts and last
	// terminations (in-place image updates).
	images    []string
	restarts  []int32
	last      []corev1.ContainerState
	isRunning bool
	changed   bool
}

func newStatusWriter(pod *corev1.Pod, ip string, _ time.Duration) *statusWriter {
	w := &statusWriter{pod: pod, ip: ip, started: metav1.Now(), changed: true}
	for _, c := range pod.Spec.Containers {
		w.images = append(w.images, c.Image)
	}
	w.restarts = make([]int32, len(w.images))
	w.last = make([]corev1.ContainerState, len(w.images))
	for _, c := range pod.Spec.InitContainers {
		w.inits = append(w.inits, corev1.ContainerStatus{
			Name:  c.Name,
			Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}},
		})
	}
	return w
}

// initDone marks init container i as exited 0.
func (w *statusWriter) initDone(i int, _ time.Duration) {
	now := metav1.Now()
	w.inits[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now,
	}}
	w.inits[i].ImageID = imageID(w.inits[i].Image)
	w.inited = i + 1
	w.changed = true
}

// restarted records container i killed and started again with image.
func (w *statusWriter) restarted(i int, image string) {
	now := metav1.Now()
	w.last[i] = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 137, Reason: "Error", FinishedAt: now, ContainerID: "sim://" + w.images[i],
	}}
	w.images[i] = image
	w.restarts[i]++
	w.changed = true
}

func (w *statusWriter) running(_ time.Duration) {
	w.isRunning = true
	w.changed = true
}

func (w *statusWriter) status(_ time.Duration) corev1.PodStatus {
	w.changed = false
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
	}
	initialized := w.inited == len(w.inits)
	st := corev1.PodStatus{
		Phase:     corev1.PodPending,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     w.ip,
		PodIPs:    []corev1.PodIP{{IP: w.ip}},
		StartTime: &w.started,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodInitialized, initialized),
			cond(corev1.PodReady, w.isRunning),
			cond(corev1.ContainersReady, w.isRunning),
			cond(corev1.PodScheduled, true),
		},
		InitContainerStatuses: append([]corev1.ContainerStatus(nil), w.inits...),
	}
	for i, c := range w.pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: w.images[i], RestartCount: w.restarts[i], LastTerminationState: w.last[i]}
		if w.isRunning {
			cs.Ready, cs.Started = true, ptrTo(true)
			cs.ImageID = imageID(w.images[i])
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		} else {
			reason := "PodInitializing"
			if initialized {
				reason = "ContainerCreating"
			}
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	if w.isRunning {
		st.Phase = corev1.PodRunning
	}
	return st
}

func imageID(image string) string { return image + "@sha256:sim" }

func ptrTo[T any](v T) *T { return &v }
