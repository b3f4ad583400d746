package render

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// UpToDate reports whether the live DaemonSet already is what desired
// asks for, so that no write is needed.
//
// equality.Semantic.DeepDerivative ignores fields desired leaves unset, so
// the API server's defaults never count as a difference (and a restart
// never rolls the DaemonSet). It also ignores extra list elements and map
// keys in live, which a hand edit could add; the lengths of the lists and
// maps prepuller sets are compared too, so such edits are reverted.
func UpToDate(desired, live *appsv1.DaemonSet) bool {
	if live == nil {
		return false
	}
	for k, v := range desired.Labels {
		if live.Labels[k] != v {
			return false
		}
	}
	for k, v := range desired.Annotations {
		if live.Annotations[k] != v {
			return false
		}
	}
	d, l := &desired.Spec.Template.Spec, &live.Spec.Template.Spec
	if len(d.InitContainers) != len(l.InitContainers) ||
		len(d.Containers) != len(l.Containers) ||
		len(d.Volumes) != len(l.Volumes) ||
		len(d.Tolerations) != len(l.Tolerations) ||
		len(d.ImagePullSecrets) != len(l.ImagePullSecrets) ||
		len(d.NodeSelector) != len(l.NodeSelector) ||
		len(desired.Spec.Template.Labels) != len(live.Spec.Template.Labels) ||
		(d.Affinity == nil) != (l.Affinity == nil) {
		return false
	}
	for i := range d.InitContainers {
		if len(d.InitContainers[i].Command) != len(l.InitContainers[i].Command) ||
			len(d.InitContainers[i].Args) != len(l.InitContainers[i].Args) ||
			len(d.InitContainers[i].Env) != len(l.InitContainers[i].Env) {
			return false
		}
	}
	return equality.Semantic.DeepDerivative(desired.Spec, live.Spec)
}

// SelectorChanged reports whether the live DaemonSet selects pods
// differently. The selector is immutable, so such a DaemonSet must be
// deleted and created again.
func SelectorChanged(desired, live *appsv1.DaemonSet) bool {
	return !equality.Semantic.DeepEqual(desired.Spec.Selector, live.Spec.Selector)
}
