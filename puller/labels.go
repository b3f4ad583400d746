package puller

import (
	"k8s.io/apimachinery/pkg/labels"
)

// Labels prepuller puts on what it owns. Ownership is by label, not owner
// reference: an owner reference to prepuller's Deployment would tie the
// DaemonSet to one install method and let a Deployment rollout delete it
// (see docs/puller-daemonset.md).
const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPuller    = "prepuller.dev/puller"
	nameValue      = "prepuller"
	componentValue = "puller"
)

// selectorLabels select the puller pods. They are part of the DaemonSet's
// immutable selector: never change them.
func selectorLabels(opts Options) map[string]string {
	return map[string]string{
		labelName:      nameValue,
		labelComponent: componentValue,
		labelPuller:    opts.DaemonSetName,
	}
}

func objectLabels(opts Options) map[string]string {
	l := selectorLabels(opts)
	l[labelManagedBy] = nameValue
	return l
}

// PodSelector selects the puller DaemonSet's pods in prepuller's namespace.
// The inventory reads their init container statuses, and the manager's
// cache holds only these pods from that namespace.
func PodSelector(opts Options) labels.Selector {
	return labels.SelectorFromSet(selectorLabels(opts))
}
