package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func input() Input {
	return Input{
		Name:           "puller",
		Namespace:      "prepuller",
		Labels:         map[string]string{"app": "prepuller", "sel": "x", "managed": "yes"},
		SelectorLabels: map[string]string{"app": "prepuller", "sel": "x"},
		PrepullerImage: "ghcr.io/prepuller/prepuller:v1",
		NoopPath:       "/usr/local/bin/prepuller-noop",
		PauseImage:     "registry.k8s.io/pause:3.10.2",
		Images: []Image{
			{Image: "docker.io/jupyter/scipy-notebook:2024", PullPolicy: corev1.PullIfNotPresent},
			{Image: "docker.io/library/busybox:latest", PullPolicy: corev1.PullAlways},
			{Image: "docker.io/x/never:1", PullPolicy: corev1.PullNever},
		},
		PullSecrets:       []string{"b", "a", "b", ""},
		Tolerations:       []corev1.Toleration{{Key: "hub.jupyter.org/dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule}},
		NodeSelector:      map[string]string{"pool": "user"},
		NodeAffinity:      &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}},
		PriorityClassName: "puller",
		MaxUnavailable:    intstr.FromString("100%"),
	}
}

func TestDaemonSet(t *testing.T) {
	got, err := DaemonSet(input())
	if err != nil {
		t.Fatal(err)
	}
	sc := &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](65534),
		RunAsGroup:               ptr.To[int64](65534),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("8Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
	}
	ro := []corev1.VolumeMount{{Name: "noop", MountPath: "/prepuller-noop", ReadOnly: true}}
	pull := func(image string, policy corev1.PullPolicy) corev1.Container {
		return corev1.Container{Name: ContainerName(image), Image: image, ImagePullPolicy: policy,
			Command: []string{"/prepuller-noop/noop"}, VolumeMounts: ro, Resources: res, SecurityContext: sc}
	}
	want := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "puller", Namespace: "prepuller", Labels: map[string]string{"app": "prepuller", "sel": "x", "managed": "yes"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "prepuller", "sel": "x"}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromString("100%"))},
			},
			RevisionHistoryLimit: ptr.To[int32](3),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "prepuller", "sel": "x", "managed": "yes"}},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{
						{Name: "install-noop", Image: "ghcr.io/prepuller/prepuller:v1", ImagePullPolicy: corev1.PullIfNotPresent,
							Command:      []string{"/usr/local/bin/prepuller-noop", "-install", "/prepuller-noop/noop"},
							VolumeMounts: []corev1.VolumeMount{{Name: "noop", MountPath: "/prepuller-noop"}}, Resources: res, SecurityContext: sc},
						pull("docker.io/jupyter/scipy-notebook:2024", corev1.PullIfNotPresent),
						pull("docker.io/library/busybox:latest", corev1.PullAlways),
						pull("docker.io/x/never:1", corev1.PullIfNotPresent),
					},
					Containers:                    []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10.2", ImagePullPolicy: corev1.PullIfNotPresent, Resources: res, SecurityContext: sc}},
					Volumes:                       []corev1.Volume{{Name: "noop", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("16Mi"))}}}},
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65534), RunAsGroup: ptr.To[int64](65534),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					ImagePullSecrets: []corev1.LocalObjectReference{{Name: "a"}, {Name: "b"}},
					Tolerations:      []corev1.Toleration{{Key: "hub.jupyter.org/dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule}},
					NodeSelector:     map[string]string{"pool": "user"},
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
						NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}},
					PriorityClassName: "puller",
				},
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rendered DaemonSet (-want +got):\n%s", diff)
	}
}

func TestDaemonSetErrors(t *testing.T) {
	cases := map[string]func(*Input){
		"relative no-op path": func(in *Input) { in.NoopPath = "noop" },
		"duplicate image":     func(in *Input) { in.Images = append(in.Images, in.Images[0]) },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			in := input()
			mutate(&in)
			if _, err := DaemonSet(in); err == nil {
				t.Error("rendered, want an error")
			}
		})
	}
}

// serverDefaults mimics what the API server adds to a DaemonSet, which must
// never count as a difference.
func serverDefaults(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	ds = ds.DeepCopy()
	ds.ResourceVersion, ds.Generation, ds.UID = "42", 3, "uid"
	spec := &ds.Spec.Template.Spec
	spec.RestartPolicy = corev1.RestartPolicyAlways
	spec.DNSPolicy = corev1.DNSClusterFirst
	spec.SchedulerName = "default-scheduler"
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			list[i].TerminationMessagePath = "/dev/termination-log"
			list[i].TerminationMessagePolicy = corev1.TerminationMessageReadFile
		}
	}
	ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
	ds.Annotations = map[string]string{"deprecated.daemonset.template.generation": "3"}
	return ds
}

func TestUpToDate(t *testing.T) {
	desired, err := DaemonSet(input())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		edit func(*appsv1.DaemonSet)
		// config, when set, changes the configuration desired is
		// rendered from (live stays as rendered from input()).
		config func(*Input)
		want   bool
	}{
		"server defaults only":  {edit: func(*appsv1.DaemonSet) {}, want: true},
		"unrelated label added": {edit: func(ds *appsv1.DaemonSet) { ds.Labels["team"] = "x" }, want: true},
		"our label removed":     {edit: func(ds *appsv1.DaemonSet) { delete(ds.Labels, "managed") }},
		"image changed": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.InitContainers[1].Image = "docker.io/evil/miner:1"
		}, nil, false},
		"init container appended": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.InitContainers = append(ds.Spec.Template.Spec.InitContainers, corev1.Container{Name: "extra", Image: "x"})
		}, nil, false},
		"init containers reordered": {func(ds *appsv1.DaemonSet) {
			ic := ds.Spec.Template.Spec.InitContainers
			ic[1], ic[2] = ic[2], ic[1]
		}, nil, false},
		"toleration added": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = append(ds.Spec.Template.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
		}, nil, false},
		"node selector key added": {func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector["extra"] = "1" }, nil, false},
		"pull secret added": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.ImagePullSecrets = append(ds.Spec.Template.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: "z"})
		}, nil, false},
		"privilege escalation": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.InitContainers[1].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		}, nil, false},
		"max unavailable changed": {func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}, nil, false},
		"args added to pull command": {func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.InitContainers[1].Args = []string{"x"} }, nil, false},
		"quantity spelled otherwise": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("8388608")
		}, nil, true},
		"rollout restart annotation": {func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Annotations = map[string]string{RestartedAtAnnotation: "2026-01-01T00:00:00Z"}
		}, nil, true},
		"priority class removed from config": {edit: func(*appsv1.DaemonSet) {}, config: func(in *Input) { in.PriorityClassName = "" }},
		"node selector removed from config":  {edit: func(*appsv1.DaemonSet) {}, config: func(in *Input) { in.NodeSelector = nil }},
		"tolerations removed from config":    {edit: func(*appsv1.DaemonSet) {}, config: func(in *Input) { in.Tolerations = nil }},
		"node affinity removed from config":  {edit: func(*appsv1.DaemonSet) {}, config: func(in *Input) { in.NodeAffinity = nil }},
		"pull secrets removed from config":   {edit: func(*appsv1.DaemonSet) {}, config: func(in *Input) { in.PullSecrets = nil }},
		"privileged added": {edit: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.InitContainers[1].SecurityContext.Privileged = ptr.To(true)
		}},
		"capability added to pause": {edit: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}},
		"pod security context field added": {edit: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.SecurityContext.FSGroup = ptr.To[int64](0)
		}},
		"service account set": {edit: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ServiceAccountName = "admin" }},
		"token mounted": {edit: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.AutomountServiceAccountToken = nil
		}},
		"host network": {edit: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }},
		"pod affinity added": {edit: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity.PodAffinity = &corev1.PodAffinity{}
		}},
		"volume mount added to pause": {edit: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: noopVolume, MountPath: "/x"}}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			live := serverDefaults(desired)
			tc.edit(live)
			want := desired
			if tc.config != nil {
				in := input()
				tc.config(&in)
				var err error
				if want, err = DaemonSet(in); err != nil {
					t.Fatal(err)
				}
			}
			if got := UpToDate(want, live); got != tc.want {
				t.Errorf("UpToDate = %v, want %v", got, tc.want)
			}
		})
	}
	if UpToDate(desired, nil) {
		t.Error("a missing DaemonSet is up to date")
	}
}
