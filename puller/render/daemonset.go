package render

import (
	"fmt"
	"path"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Names and paths inside the puller pod.
const (
	InstallContainerName = "install-noop"
	PauseContainerName   = "pause"
	noopVolume           = "noop"
	noopDir              = "/prepuller-noop"
	// NoopInPod is where every pull container finds the no-op program.
	NoopInPod = noopDir + "/noop"
	// nobody: no image needs this user to exist to run a static binary.
	nobody = int64(65534)
)

// Image is one image to pull.
type Image struct {
	Image      string
	PullPolicy corev1.PullPolicy
}

// Input is everything the DaemonSet is rendered from.
type Input struct {
	Name      string
	Namespace string
	// Labels go on the DaemonSet and its pod template; SelectorLabels
	// (a subset) select the pods and never change.
	Labels         map[string]string
	SelectorLabels map[string]string
	// Annotations go on the DaemonSet only, never on the pod template
	// (a template change rolls every puller pod).
	Annotations map[string]string
	// PrepullerImage holds the no-op program at NoopPath; it is copied
	// into the pod by running NoopPath with "-install".
	PrepullerImage    string
	NoopPath          string
	PauseImage        string
	Images            []Image
	PullSecrets       []string
	Tolerations       []corev1.Toleration
	NodeSelector      map[string]string
	NodeAffinity      *corev1.NodeSelector
	PriorityClassName string
	MaxUnavailable    intstr.IntOrString
}

// DaemonSet renders the puller DaemonSet. Its pod runs, in order, the
// install container (copies the no-op program into an emptyDir), one init
// container per image running that program (so images without a shell pull
// fine), and a pause container that keeps the pod, and with it the pulled
// images, alive: the kubelet's image GC spares images of existing
// containers, exited ones included.
func DaemonSet(in Input) (*appsv1.DaemonSet, error) {
	if !path.IsAbs(in.NoopPath) {
		return nil, fmt.Errorf("rendering puller DaemonSet: no-op path %q is not absolute", in.NoopPath)
	}
	refs := make([]string, len(in.Images))
	for i, img := range in.Images {
		refs[i] = img.Image
	}
	names := ContainerNames(refs)

	inits := []corev1.Container{{
		Name:            InstallContainerName,
		Image:           in.PrepullerImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{in.NoopPath, "-install", NoopInPod},
		VolumeMounts:    []corev1.VolumeMount{{Name: noopVolume, MountPath: noopDir}},
		Resources:       tinyResources(),
		SecurityContext: restricted(),
	}}
	seen := map[string]bool{InstallContainerName: true, PauseContainerName: true}
	for _, img := range in.Images {
		name := names[img.Image]
		if seen[name] {
			return nil, fmt.Errorf("rendering puller DaemonSet: image %q listed twice or its container name %q is taken", img.Image, name)
		}
		seen[name] = true
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("rendering puller DaemonSet: container name %q for %q: %v", name, img.Image, errs)
		}
		policy := img.PullPolicy
		if policy != corev1.PullAlways {
			// Never would fail with ErrImageNeverPull on every node
			// that lacks the image: the puller exists to pull it.
			policy = corev1.PullIfNotPresent
		}
		inits = append(inits, corev1.Container{
			Name:            name,
			Image:           img.Image,
			ImagePullPolicy: policy,
			Command:         []string{NoopInPod},
			VolumeMounts:    []corev1.VolumeMount{{Name: noopVolume, MountPath: noopDir, ReadOnly: true}},
			Resources:       tinyResources(),
			SecurityContext: restricted(),
		})
	}

	var pullSecrets []corev1.LocalObjectReference
	for _, s := range dedupe(in.PullSecrets) {
		pullSecrets = append(pullSecrets, corev1.LocalObjectReference{Name: s})
	}
	var affinity *corev1.Affinity
	if in.NodeAffinity != nil && len(in.NodeAffinity.NodeSelectorTerms) > 0 {
		affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: in.NodeAffinity.DeepCopy(),
		}}
	}
	maxUnavailable := in.MaxUnavailable
	ds := &appsv1.DaemonSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        in.Name,
			Namespace:   in.Namespace,
			Labels:      copyMap(in.Labels),
			Annotations: copyMap(in.Annotations),
		},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: copyMap(in.SelectorLabels)},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
			},
			RevisionHistoryLimit: ptr.To[int32](3),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(in.Labels)},
				Spec: corev1.PodSpec{
					InitContainers: inits,
					Containers: []corev1.Container{{
						Name:            PauseContainerName,
						Image:           in.PauseImage,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Resources:       tinyResources(),
						SecurityContext: restricted(),
					}},
					Volumes: []corev1.Volume{{
						Name:         noopVolume,
						VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("16Mi"))}},
					}},
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(nobody),
						RunAsGroup:     ptr.To(nobody),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					ImagePullSecrets:  pullSecrets,
					Tolerations:       copyTolerations(in.Tolerations),
					NodeSelector:      copyMap(in.NodeSelector),
					Affinity:          affinity,
					PriorityClassName: in.PriorityClassName,
				},
			},
		},
	}
	return ds, nil
}

func tinyResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1m"),
			corev1.ResourceMemory: resource.MustParse("8Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("32Mi"),
		},
	}
}

func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(nobody),
		RunAsGroup:               ptr.To(nobody),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func copyTolerations(in []corev1.Toleration) []corev1.Toleration {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.Toleration, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
