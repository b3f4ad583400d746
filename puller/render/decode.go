package render

import (
	"iter"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
)

// Pull is one init container of a puller pod (or of its DaemonSet's
// template), read back the way DaemonSet wrote it.
type Pull struct {
	// Container is the init container's name.
	Container string
	// Image is the container's image normalized (package imageref), or as
	// written when it is not a valid reference (Valid false).
	Image string
	Valid bool
	// Install marks the install container (InstallContainerName): its image
	// is prepuller's own, not one the puller pulls for users.
	Install bool
	// Slot marks a slot container of a placed puller pod (SlotPrefix), a
	// running container rather than an init container.
	Slot bool
	// Status is the kubelet's status of the container; nil when there is
	// none (always, for a DaemonSet template).
	Status *corev1.ContainerStatus
}

// Pulled reports whether the kubelet has the container's image on the
// node: an init container that exited 0, or a slot container running the
// image its spec names now (after an in-place change the status names the
// old image until the new one runs; a status image that is not a valid
// reference, an image ID, is taken as the spec's).
func (p Pull) Pulled(norm *imageref.Cache) bool {
	st := p.Status
	if st == nil || !p.Valid {
		return false
	}
	if !p.Slot {
		return st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
	}
	if st.State.Running == nil {
		return false
	}
	img, err := norm.Normalize(st.Image)
	return err != nil || img == p.Image
}

// Rendered reports whether DaemonSet would have made this container to pull
// Image: a valid image in a container named for it by ContainerNames. Any
// other init container (a hand edit, another tool's, one named "pull-..."
// by chance) is not one of the puller's images.
func (p Pull) Rendered() bool {
	if p.Install || !p.Valid {
		return false
	}
	return p.Container == containerName(p.Image, hashLen) || p.Container == containerName(p.Image, longHashLen)
}

// PodPulls yields the init containers of a puller pod in spec order (the
// order they run), each with its status from statuses, matched by name.
// Images are normalized through norm, which may be nil (no memo); callers
// reading many pods should pass their cache, since every pod names the same
// images.
func PodPulls(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, norm *imageref.Cache) iter.Seq[Pull] {
	return func(yield func(Pull) bool) {
		for i := range spec.InitContainers {
			c := &spec.InitContainers[i]
			p := Pull{Container: c.Name, Image: c.Image, Install: c.Name == InstallContainerName, Status: statusOf(statuses, i, c.Name)}
			if img, err := norm.Normalize(c.Image); err == nil {
				p.Image, p.Valid = img, true
			}
			if !yield(p) {
				return
			}
		}
	}
}

// SlotPulls yields the slot containers of a placed puller pod that hold an
// image (not pause), each with its status from statuses (the pod's
// container statuses), matched by name.
func SlotPulls(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, pause string, norm *imageref.Cache) iter.Seq[Pull] {
	return func(yield func(Pull) bool) {
		for i := range spec.Containers {
			c := &spec.Containers[i]
			if slotIndex(c.Name) < 0 || c.Image == pause {
				continue
			}
			p := Pull{Container: c.Name, Image: c.Image, Slot: true, Status: statusOf(statuses, i, c.Name)}
			if img, err := norm.Normalize(c.Image); err == nil {
				p.Image, p.Valid = img, true
			}
			if !yield(p) {
				return
			}
		}
	}
}

// AllPulls yields a puller pod's init containers (PodPulls), then its slot
// containers (SlotPulls): everything either kind of puller pod pulls.
func AllPulls(p *corev1.Pod, pause string, norm *imageref.Cache) iter.Seq[Pull] {
	return func(yield func(Pull) bool) {
		for pull := range PodPulls(&p.Spec, p.Status.InitContainerStatuses, norm) {
			if !yield(pull) {
				return
			}
		}
		for pull := range SlotPulls(&p.Spec, p.Status.ContainerStatuses, pause, norm) {
			if !yield(pull) {
				return
			}
		}
	}
}

// statusOf finds the status named name. The kubelet lists init container
// statuses in spec order, so index i is tried first and the search is
// linear only for pods that do not follow it.
func statusOf(statuses []corev1.ContainerStatus, i int, name string) *corev1.ContainerStatus {
	if i < len(statuses) && statuses[i].Name == name {
		return &statuses[i]
	}
	for j := range statuses {
		if statuses[j].Name == name {
			return &statuses[j]
		}
	}
	return nil
}

// Images returns the normalized images a puller DaemonSet pulls, in init
// container order: those of its Rendered containers, so neither the install
// container nor a container DaemonSet did not make counts. Nil for a nil
// DaemonSet.
func Images(ds *appsv1.DaemonSet) []string {
	if ds == nil {
		return nil
	}
	var out []string
	// No memo: a DaemonSet holds each image once, and the references it
	// holds are already normalized, which parses fastest.
	for p := range PodPulls(&ds.Spec.Template.Spec, nil, nil) {
		if p.Rendered() {
			out = append(out, p.Image)
		}
	}
	return out
}
