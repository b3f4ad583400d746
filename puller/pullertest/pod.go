// Package pullertest has fluent builders for the puller's tests.
package pullertest

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodWrapper builds a Pod.
type PodWrapper struct{ corev1.Pod }

// MakePod starts a pod with no containers.
func MakePod(name, namespace string) *PodWrapper {
	return &PodWrapper{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}}
}

// MakeUserPod starts a singleuser pod as KubeSpawner labels it.
func MakeUserPod(name, namespace, user string) *PodWrapper {
	return MakePod(name, namespace).
		Label("component", "singleuser-server").
		Label("hub.jupyter.org/username", user).
		Annotation("hub.jupyter.org/username", user)
}

// Label sets a label.
func (p *PodWrapper) Label(k, v string) *PodWrapper {
	if p.Pod.Labels == nil {
		p.Pod.Labels = map[string]string{}
	}
	p.Pod.Labels[k] = v
	return p
}

// LabelSet sets several labels.
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

// Image adds a container running image, named after its position.
func (p *PodWrapper) Image(image string) *PodWrapper {
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
		Name:  containerName("c", len(p.Spec.Containers)),
		Image: image,
	})
	return p
}

// ImagePolicy sets the pull policy of the last container.
func (p *PodWrapper) ImagePolicy(policy corev1.PullPolicy) *PodWrapper {
	p.Spec.Containers[len(p.Spec.Containers)-1].ImagePullPolicy = policy
	return p
}

// InitImage adds an init container running image.
func (p *PodWrapper) InitImage(name, image string) *PodWrapper {
	p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: name, Image: image})
	return p
}

// PullSecret adds an imagePullSecret.
func (p *PodWrapper) PullSecret(name string) *PodWrapper {
	p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	return p
}

// Node binds the pod to a node.
func (p *PodWrapper) Node(name string) *PodWrapper {
	p.Spec.NodeName = name
	return p
}

// Phase sets the pod phase.
func (p *PodWrapper) Phase(phase corev1.PodPhase) *PodWrapper {
	p.Status.Phase = phase
	return p
}

// InitWaiting sets an init container's status to waiting with reason.
func (p *PodWrapper) InitWaiting(name, reason string) *PodWrapper {
	return p.initStatus(name, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}})
}

// InitDone sets an init container's status to terminated with exit code.
func (p *PodWrapper) InitDone(name string, exitCode int32) *PodWrapper {
	return p.initStatus(name, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode}})
}

func (p *PodWrapper) initStatus(name string, st corev1.ContainerState) *PodWrapper {
	image := ""
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			image = c.Image
		}
	}
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			p.Status.InitContainerStatuses[i].State = st
			return p
		}
	}
	p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: name, Image: image, State: st})
	return p
}

// Obj returns the pod.
func (p *PodWrapper) Obj() *corev1.Pod { return &p.Pod }

func containerName(prefix string, i int) string { return prefix + strconv.Itoa(i) }
