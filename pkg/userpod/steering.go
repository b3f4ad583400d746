package userpod

import corev1 "k8s.io/api/core/v1"

// SteeringImage is the image that decides where a user pod is steered: the
// container named container (KubeSpawner's "notebook"), else the first
// container. It is the user's environment and by far the largest image;
// init containers (block-cloud-metadata) are small and everywhere. False
// when the pod has no container.
func SteeringImage(cs []Container, container string) (string, bool) {
	return steering(cs, container, func(c *Container) (string, string) { return c.Name, c.Image })
}

// SteeringImageOf is SteeringImage for a Pod object's containers.
func SteeringImageOf(p *corev1.Pod, container string) (string, bool) {
	return steering(p.Spec.Containers, container, func(c *corev1.Container) (string, string) { return c.Name, c.Image })
}

func steering[C any](cs []C, container string, nameImage func(*C) (string, string)) (string, bool) {
	if len(cs) == 0 {
		return "", false
	}
	for i := range cs {
		if name, img := nameImage(&cs[i]); name == container {
			return img, true
		}
	}
	_, img := nameImage(&cs[0])
	return img, true
}
