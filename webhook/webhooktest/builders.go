// Package webhooktest has fluent builders for user pods and a recording
// imageset.Recorder, for the webhook's unit, integration and benchmark tests.
package webhooktest

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/puller/imageset"
)

// PodWrapper builds a pod.
type PodWrapper struct{ corev1.Pod }

// MakePod starts a pod with no labels and no containers.
func MakePod(name, ns string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
	}}
}

// MakeUserPod starts a pod as KubeSpawner makes it: labelled
// component=singleuser-server, annotated with the user, with a "notebook"
// container running image.
func MakeUserPod(name, ns, user, image string) *PodWrapper {
	return MakePod(name, ns).
		Label("component", "singleuser-server").
		Annotation("hub.jupyter.org/username", user).
		Container("notebook", image)
}

// GenerateName clears the name and sets generateName.
func (w *PodWrapper) GenerateName(prefix string) *PodWrapper {
	w.ObjectMeta.Name, w.ObjectMeta.GenerateName = "", prefix
	return w
}

// Label sets a label.
func (w *PodWrapper) Label(k, v string) *PodWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[k] = v
	return w
}

// Annotation sets an annotation.
func (w *PodWrapper) Annotation(k, v string) *PodWrapper {
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[k] = v
	return w
}

// Container adds a container.
func (w *PodWrapper) Container(name, image string) *PodWrapper {
	w.Spec.Containers = append(w.Spec.Containers, corev1.Container{Name: name, Image: image})
	return w
}

// PullPolicy sets the pull policy of the last container added.
func (w *PodWrapper) PullPolicy(p corev1.PullPolicy) *PodWrapper {
	w.Spec.Containers[len(w.Spec.Containers)-1].ImagePullPolicy = p
	return w
}

// InitContainer adds an init container.
func (w *PodWrapper) InitContainer(name, image string) *PodWrapper {
	w.Spec.InitContainers = append(w.Spec.InitContainers, corev1.Container{Name: name, Image: image})
	return w
}

// PullSecret adds an imagePullSecrets entry.
func (w *PodWrapper) PullSecret(name string) *PodWrapper {
	w.Spec.ImagePullSecrets = append(w.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	return w
}

// Affinity sets the pod's affinity.
func (w *PodWrapper) Affinity(a *corev1.Affinity) *PodWrapper {
	w.Spec.Affinity = a
	return w
}

// Obj returns the built pod.
func (w *PodWrapper) Obj() *corev1.Pod { return w.Pod.DeepCopy() }

// Recorder records sightings in memory. It is a real, if simple,
// imageset.Recorder: Record never blocks for long.
type Recorder struct {
	mu        sync.Mutex
	sightings []imageset.Sighting
}

var _ imageset.Recorder = &Recorder{}

// Record appends s.
func (r *Recorder) Record(s imageset.Sighting) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sightings = append(r.sightings, s)
}

// Sightings returns a copy of what was recorded.
func (r *Recorder) Sightings() []imageset.Sighting {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]imageset.Sighting(nil), r.sightings...)
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sightings = nil
}
