// Package inventorytest has fluent builders for the objects the node
// inventory reads, for tests in any package.
package inventorytest

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeWrapper builds a Node: Ready, schedulable, with a hostname label equal
// to its name unless told otherwise.
type NodeWrapper struct{ corev1.Node }

// MakeNode starts a Node named name.
func MakeNode(name string) *NodeWrapper {
	return &NodeWrapper{corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		}},
	}}
}

// Label sets a label; an empty value removes it.
func (w *NodeWrapper) Label(k, v string) *NodeWrapper {
	if v == "" {
		delete(w.Labels, k)
	} else {
		w.Labels[k] = v
	}
	return w
}

// Image adds one status.images entry with its names, as a kubelet reports.
func (w *NodeWrapper) Image(size int64, names ...string) *NodeWrapper {
	w.Status.Images = append(w.Status.Images, corev1.ContainerImage{Names: names, SizeBytes: size})
	return w
}

// Unschedulable cordons the node.
func (w *NodeWrapper) Unschedulable() *NodeWrapper {
	w.Spec.Unschedulable = true
	return w
}

// Ready sets the Ready condition's status.
func (w *NodeWrapper) Ready(s corev1.ConditionStatus) *NodeWrapper {
	w.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: s}}
	return w
}

// Obj returns the built Node.
func (w *NodeWrapper) Obj() *corev1.Node { return w.Node.DeepCopy() }

// PodWrapper builds a puller pod: one init container per image.
type PodWrapper struct{ corev1.Pod }

// MakePullerPod starts a puller pod in ns scheduled on node.
func MakePullerPod(name, ns, node string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/name": "prepuller-puller"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10.2"}},
		},
	}}
}

// Label sets a label.
func (w *PodWrapper) Label(k, v string) *PodWrapper {
	w.Labels[k] = v
	return w
}

// Init adds an init container and, when state is not nil, its status.
func (w *PodWrapper) Init(name, image string, state *corev1.ContainerState) *PodWrapper {
	w.Spec.InitContainers = append(w.Spec.InitContainers, corev1.Container{Name: name, Image: image})
	if state != nil {
		w.Status.InitContainerStatuses = append(w.Status.InitContainerStatuses,
			corev1.ContainerStatus{Name: name, Image: image, State: *state})
	}
	return w
}

// Obj returns the built Pod.
func (w *PodWrapper) Obj() *corev1.Pod { return w.Pod.DeepCopy() }

// Exited is a terminated container state with the given exit code.
func Exited(code int32) *corev1.ContainerState {
	return &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
}

// Running is a running container state.
func Running() *corev1.ContainerState {
	return &corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}
