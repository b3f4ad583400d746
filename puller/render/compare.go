package render

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// RestartedAtAnnotation is what `kubectl rollout restart` sets on the pod
// template. Prepuller keeps it when it writes, so its own writes do not
// undo (or redo) an operator's restart.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// UpToDate reports whether the live DaemonSet already is what desired
// asks for, so that no write is needed.
//
// equality.Semantic.DeepDerivative ignores fields desired leaves unset, so
// the API server's defaults never count as a difference (and a restart
// never rolls the DaemonSet). That leniency also hides hand edits and
// removed configuration, so on top of it:
//   - the lengths of the lists and maps prepuller sets are compared, so
//     added containers, commands, mounts or tolerations are reverted;
//   - the fields that decide what a puller pod may do and where it runs
//     (securityFields) are compared exactly: the API server defaults none
//     of them in a pod template, so an empty field in desired means empty,
//     and a removed priorityClassName or a hand-added privileged: true is
//     a difference.
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
		len(desired.Spec.Template.Labels) != len(live.Spec.Template.Labels) {
		return false
	}
	for i := range d.InitContainers {
		if !sameContainerShape(&d.InitContainers[i], &l.InitContainers[i]) {
			return false
		}
	}
	for i := range d.Containers {
		if !sameContainerShape(&d.Containers[i], &l.Containers[i]) {
			return false
		}
	}
	if !securityFieldsEqual(d, l) {
		return false
	}
	return equality.Semantic.DeepDerivative(desired.Spec, live.Spec)
}

// sameContainerShape compares what DeepDerivative cannot see in a
// container: extra list items, and the security context exactly.
func sameContainerShape(d, l *corev1.Container) bool {
	return len(d.Command) == len(l.Command) &&
		len(d.Args) == len(l.Args) &&
		len(d.Env) == len(l.Env) &&
		len(d.EnvFrom) == len(l.EnvFrom) &&
		len(d.VolumeMounts) == len(l.VolumeMounts) &&
		len(d.VolumeDevices) == len(l.VolumeDevices) &&
		len(d.Ports) == len(l.Ports) &&
		equality.Semantic.DeepEqual(d.SecurityContext, l.SecurityContext)
}

// securityFieldsEqual compares exactly the pod fields that grant rights or
// choose nodes. Nil and empty lists and maps are equal.
func securityFieldsEqual(d, l *corev1.PodSpec) bool {
	eq := equality.Semantic.DeepEqual
	return eq(d.SecurityContext, l.SecurityContext) &&
		d.PriorityClassName == l.PriorityClassName &&
		eq(d.NodeSelector, l.NodeSelector) &&
		eq(d.Tolerations, l.Tolerations) &&
		eq(d.Affinity, l.Affinity) &&
		eq(d.ImagePullSecrets, l.ImagePullSecrets) &&
		d.ServiceAccountName == l.ServiceAccountName &&
		d.DeprecatedServiceAccount == l.DeprecatedServiceAccount &&
		eq(d.AutomountServiceAccountToken, l.AutomountServiceAccountToken) &&
		d.HostNetwork == l.HostNetwork && d.HostPID == l.HostPID && d.HostIPC == l.HostIPC &&
		eq(d.HostUsers, l.HostUsers) &&
		eq(d.ShareProcessNamespace, l.ShareProcessNamespace) &&
		eq(d.RuntimeClassName, l.RuntimeClassName)
}

// ForUpdate returns the object to write over live: live's metadata with
// desired's labels and annotations set (others kept), and desired's spec,
// keeping the template's RestartedAtAnnotation so that prepuller's write
// neither undoes a `kubectl rollout restart` nor causes a second rollout.
func ForUpdate(desired, live *appsv1.DaemonSet) *appsv1.DaemonSet {
	upd := live.DeepCopy()
	upd.Labels = mergeMap(upd.Labels, desired.Labels)
	upd.Annotations = mergeMap(upd.Annotations, desired.Annotations)
	upd.Spec = *desired.Spec.DeepCopy()
	if at, ok := live.Spec.Template.Annotations[RestartedAtAnnotation]; ok {
		upd.Spec.Template.Annotations = mergeMap(upd.Spec.Template.Annotations, map[string]string{RestartedAtAnnotation: at})
	}
	return upd
}

func mergeMap(dst, src map[string]string) map[string]string {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]string, len(src))
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

// SelectorChanged reports whether the live DaemonSet selects pods
// differently. The selector is immutable, so such a DaemonSet must be
// deleted and created again.
func SelectorChanged(desired, live *appsv1.DaemonSet) bool {
	return !equality.Semantic.DeepEqual(desired.Spec.Selector, live.Spec.Selector)
}
