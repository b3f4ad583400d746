package render

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// SlotPrefix starts the name of every slot container of a placed puller
// pod: slot-00, slot-01, ...
const SlotPrefix = "slot-"

// SlotName is the name of slot i.
func SlotName(i int) string { return fmt.Sprintf("%s%02d", SlotPrefix, i) }

// slotIndex is the slot a container name stands for, or -1.
func slotIndex(name string) int {
	if len(name) != len(SlotPrefix)+2 || name[:len(SlotPrefix)] != SlotPrefix {
		return -1
	}
	i, err := strconv.Atoi(name[len(SlotPrefix):])
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// Placed renders the placed puller DaemonSet: the install init container,
// then slots running containers. Slot i runs in.Images[i] when there is
// one (the images a node that joins pulls first, in that order), else the
// pause image. Every slot runs the no-op program with -wait: a running
// container keeps its image safe from the kubelet's image GC.
//
// Its update strategy is OnDelete: a template change recreates no pod. The
// leader moves images by changing the image of a pod's slot container in
// place, which the kubelet answers by pulling the new image and restarting
// that one container (see docs/placement.md).
func Placed(in Input, slots int) (*appsv1.DaemonSet, error) {
	if slots < 1 {
		return nil, fmt.Errorf("rendering placed puller DaemonSet: %d slots", slots)
	}
	if len(in.Images) > slots {
		return nil, fmt.Errorf("rendering placed puller DaemonSet: %d images for %d slots", len(in.Images), slots)
	}
	images := in.Images
	in.Images = nil
	ds, err := DaemonSet(in)
	if err != nil {
		return nil, err
	}
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	containers := make([]corev1.Container, slots)
	for i := range containers {
		img := Image{Image: in.PauseImage, PullPolicy: corev1.PullIfNotPresent}
		if i < len(images) {
			img = images[i]
		}
		containers[i] = SlotContainer(i, img)
	}
	ds.Spec.Template.Spec.Containers = containers
	return ds, nil
}

// SlotContainer is slot i holding img.
func SlotContainer(i int, img Image) corev1.Container {
	policy := img.PullPolicy
	if policy != corev1.PullAlways {
		policy = corev1.PullIfNotPresent
	}
	return corev1.Container{
		Name:            SlotName(i),
		Image:           img.Image,
		ImagePullPolicy: policy,
		Command:         []string{NoopInPod, "-wait"},
		VolumeMounts:    []corev1.VolumeMount{{Name: noopVolume, MountPath: noopDir, ReadOnly: true}},
		Resources:       slotResources(),
		SecurityContext: restricted(),
	}
}

// slotResources are smaller than an init container's: slots run side by
// side all the time, and a sleeping static program needs about 1 MiB.
func slotResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1m"),
			corev1.ResourceMemory: resource.MustParse("4Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("16Mi"),
		},
	}
}

// SlotImages reads the slot images of a placed puller pod (or of its
// DaemonSet's template), index by index; "" for an empty slot (one running
// pause). Containers that are not slots are ignored; the result is as long
// as the highest slot index plus one.
func SlotImages(spec *corev1.PodSpec, pause string) []string {
	var out []string
	for i := range spec.Containers {
		c := &spec.Containers[i]
		j := slotIndex(c.Name)
		if j < 0 {
			continue
		}
		for len(out) <= j {
			out = append(out, "")
		}
		if c.Image != pause {
			out[j] = c.Image
		}
	}
	return out
}
