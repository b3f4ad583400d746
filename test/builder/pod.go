// Package builder has a fluent pod builder for the puller's and the
// webhook's unit, integration and benchmark tests, in the style of kueue's
// testing wrappers:
//
//	pod := builder.MakeUserPod("jupyter-alice", "hub", "alice").
//		Container("notebook", "jupyter/scipy-notebook:2024").Obj()
//
// It imports only the Kubernetes API types, so any test can use it.
package builder

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodWrapper builds a pod. Each method changes the wrapper and returns it;
// Obj returns a copy, so a wrapper can be built on and reused.
type PodWrapper struct{ corev1.Pod }

// MakePod starts a v1 Pod with no labels and no containers.
func MakePod(name, namespace string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
	}}
}

// MakeUserPod starts a singleuser pod labelled and annotated as KubeSpawner
// does (component=singleuser-server, the user name as label and
// annotation), with no containers: add them with Container (KubeSpawner's
// main one is "notebook") or Image.
func MakeUserPod(name, namespace, user string) *PodWrapper {
	return MakePod(name, namespace).
		Label("component", "singleuser-server").
		Label("hub.jupyter.org/username", user).
		Annotation("hub.jupyter.org/username", user)
}

// GenerateName clears the name and sets generateName.
func (p *PodWrapper) GenerateName(prefix string) *PodWrapper {
	p.ObjectMeta.Name, p.ObjectMeta.GenerateName = "", prefix
	return p
}

// Label sets a label.
func (p *PodWrapper) Label(k, v string) *PodWrapper {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[k] = v
	return p
}

// LabelSet sets each label of m.
func (p *PodWrapper) LabelSet(m map[string]string) *PodWrapper {
	for k, v := range m {
		p.Label(k, v)
	}
	return p
}

// Annotation sets an annotation.
func (p *PodWrapper) Annotation(k, v string) *PodWrapper {
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[k] = v
	return p
}

// Container adds a container called name running image.
func (p *PodWrapper) Container(name, image string) *PodWrapper {
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: name, Image: image})
	return p
}

// Image adds a container running image, named after its position ("c0",
// "c1", ...), for tests where the name does not matter.
func (p *PodWrapper) Image(image string) *PodWrapper {
	return p.Container("c"+strconv.Itoa(len(p.Spec.Containers)), image)
}

// PullPolicy sets the image pull policy of the last container added.
func (p *PodWrapper) PullPolicy(policy corev1.PullPolicy) *PodWrapper {
	p.Spec.Containers[len(p.Spec.Containers)-1].ImagePullPolicy = policy
	return p
}

// InitContainer adds an init container called name running image.
func (p *PodWrapper) InitContainer(name, image string) *PodWrapper {
	p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: name, Image: image})
	return p
}

// PullSecret adds an imagePullSecrets entry.
func (p *PodWrapper) PullSecret(name string) *PodWrapper {
	p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	return p
}

// Affinity sets the pod's affinity.
func (p *PodWrapper) Affinity(a *corev1.Affinity) *PodWrapper {
	p.Spec.Affinity = a
	return p
}

// Node binds the pod to a node.
func (p *PodWrapper) Node(name string) *PodWrapper {
	p.Spec.NodeName = name
	return p
}

// Phase sets the pod's phase.
func (p *PodWrapper) Phase(phase corev1.PodPhase) *PodWrapper {
	p.Status.Phase = phase
	return p
}

// InitWaiting sets the status of init container name to waiting with
// reason.
func (p *PodWrapper) InitWaiting(name, reason string) *PodWrapper {
	return p.initStatus(name, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}})
}

// InitDone sets the status of init container name to terminated with
// exitCode.
func (p *PodWrapper) InitDone(name string, exitCode int32) *PodWrapper {
	return p.initStatus(name, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode}})
}

// initStatus sets the state of init container name, adding its status
// (with the container's image) if it has none yet.
func (p *PodWrapper) initStatus(name string, st corev1.ContainerState) *PodWrapper {
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			p.Status.InitContainerStatuses[i].State = st
			return p
		}
	}
	image := ""
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			image = c.Image
		}
	}
	p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: name, Image: image, State: st})
	return p
}

// Obj returns a deep copy of the pod built so far.
func (p *PodWrapper) Obj() *corev1.Pod { return p.Pod.DeepCopy() }
