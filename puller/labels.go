package puller

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
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

// PlacedName names the placed puller DaemonSet (puller.placement.mode
// demand): the puller DaemonSet's name with "-placed".
func PlacedName(opts Options) string { return opts.DaemonSetName + placedSuffix }

const placedSuffix = "-placed"

// placedSelectorLabels select the placed puller pods; like selectorLabels,
// never change them.
func placedSelectorLabels(opts Options) map[string]string {
	l := selectorLabels(opts)
	l[labelPuller] = PlacedName(opts)
	return l
}

func placedObjectLabels(opts Options) map[string]string {
	l := placedSelectorLabels(opts)
	l[labelManagedBy] = nameValue
	return l
}

// PodSelector selects the pods of both puller DaemonSets (the puller
// DaemonSet and the placed one) in prepuller's namespace. The inventory
// reads their container statuses, and the manager's cache holds only these
// pods from that namespace.
func PodSelector(opts Options) labels.Selector {
	req, err := labels.NewRequirement(labelPuller, selection.In, []string{opts.DaemonSetName, PlacedName(opts)})
	if err != nil {
		// Validate checked the name, which is a label value here.
		return labels.SelectorFromSet(selectorLabels(opts))
	}
	return labels.SelectorFromSet(map[string]string{labelName: nameValue, labelComponent: componentValue}).Add(*req)
}

// placedPodSelector selects the placed puller pods only.
func placedPodSelector(opts Options) labels.Selector {
	return labels.SelectorFromSet(placedSelectorLabels(opts))
}
