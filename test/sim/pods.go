package main

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/test/sim/workload"
)

// Images every JupyterHub cluster has besides the users' ones, with sizes
// close to the real ones.
const (
	pauseImage        = "registry.k8s.io/pause:3.10.2"
	networkToolsImage = "quay.io/jupyterhub/k8s-network-tools:4.3.1"
	prepullerImage    = "ghcr.io/prepuller/prepuller:latest"
)

var infraSizes = map[string]int64{
	pauseImage:        750_000,
	networkToolsImage: 12_000_000,
	prepullerImage:    30_000_000,
}

// unknownImageSize is used for an image the workload does not know (none
// expected); small, so a surprise does not dominate the numbers.
const unknownImageSize = 100_000_000

const (
	hubNamespace       = "jhub"
	prepullerNamespace = "prepuller"
	nodePurposeLabel   = "hub.jupyter.org/node-purpose"
)

func sizeFunc(w workload.Workload) func(string) int64 {
	sizes := map[string]int64{}
	for k, v := range infraSizes {
		sizes[k] = v
	}
	for _, img := range w.Images {
		sizes[img.Ref] = img.Size
	}
	return func(image string) int64 {
		if s, ok := sizes[image]; ok {
			return s
		}
		return unknownImageSize
	}
}

// userTolerations are the chart's defaults for user pods.
func userTolerations() []corev1.Toleration {
	return []corev1.Toleration{
		{Key: "hub.jupyter.org/dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule},
		{Key: "hub.jupyter.org_dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule},
	}
}

// userPod is the pod KubeSpawner creates under the chart's defaults: the
// block-cloud-metadata init container, the notebook container, the
// node-purpose preference (matchNodePurpose: prefer) and the user
// tolerations.
func userPod(s workload.Session, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "jupyter-" + s.User,
			Namespace: hubNamespace,
			Labels: map[string]string{
				"component":                   "singleuser-server",
				"app.kubernetes.io/component": "singleuser-server",
				"app":                         "jupyterhub",
				"release":                     "jhub",
				"hub.jupyter.org/username":    s.User,
				"hub.jupyter.org/servername":  "",
			},
			Annotations: map[string]string{"hub.jupyter.org/username": s.User},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name:    "block-cloud-metadata",
				Image:   networkToolsImage,
				Command: []string{"iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "DROP"},
			}},
			Containers: []corev1.Container{{
				Name:  "notebook",
				Image: image,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("500m"),
					corev1.ResourceMemory: resource.MustParse("4Gi"),
				}},
			}},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 100,
					Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
						Key: nodePurposeLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{"user"},
					}}},
				}},
			}},
			Tolerations: userTolerations(),
		},
	}
}

// chartPuller is the JupyterHub chart's continuous-image-puller as it
// renders with prePuller.continuous.enabled and pullProfileListImages: an
// init container per configured image (the singleuser image, then the
// profile images), each echoing, then pause.
func chartPuller(w workload.Workload) *appsv1.DaemonSet {
	labels := map[string]string{"app": "jupyterhub", "component": "continuous-image-puller", "release": "jhub"}
	echo := []string{"/bin/sh", "-c", `echo "Pulling complete"`}
	inits := []corev1.Container{{Name: "image-pull-metadata-block", Image: networkToolsImage, Command: echo}}
	k := 0
	for _, img := range w.Images {
		if !img.Configured {
			continue
		}
		name := "image-pull-singleuser"
		if img.Rank > 1 {
			name = fmt.Sprintf("image-pull-singleuser-profilelist-%d", k)
			k++
		}
		inits = append(inits, corev1.Container{Name: name, Image: img.Ref, Command: echo})
	}
	maxUnavailable := intstr.FromString("100%")
	zero := int64(0)
	no := false
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "continuous-image-puller", Namespace: hubNamespace, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					InitContainers:                inits,
					Containers:                    []corev1.Container{{Name: "pause", Image: pauseImage}},
					TerminationGracePeriodSeconds: &zero,
					AutomountServiceAccountToken:  &no,
					Tolerations:                   userTolerations(),
				},
			},
		},
	}
}

// schedulerConfig is a KubeSchedulerConfiguration for the default profile.
// The user-scheduler variant carries the JupyterHub chart's weights.
func schedulerConfig(kubeconfig string, userScheduler bool) string {
	var b strings.Builder
	b.WriteString(cluster.SchedulerConfig(kubeconfig))
	if !userScheduler {
		return b.String()
	}
	b.WriteString(`profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
      - name: NodeAffinity
      - name: InterPodAffinity
      - name: NodeResourcesFit
      - name: ImageLocality
      enabled:
      - name: NodeAffinity
        weight: 14631
      - name: InterPodAffinity
        weight: 1331
      - name: NodeResourcesFit
        weight: 121
      - name: ImageLocality
        weight: 11
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - name: cpu
          weight: 1
        - name: memory
          weight: 1
`)
	return b.String()
}
