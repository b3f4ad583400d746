package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// userPod is shaped like KubeSpawner's under the JupyterHub chart: name
// jupyter-<user>, its labels and annotation, main container "notebook",
// the jovyan user. (The chart's block-cloud-metadata init container is
// left out: it needs NET_ADMIN and an image from outside.)
func userPod(user, image string) *corev1.Pod {
	labels := map[string]string{
		"component":                   "singleuser-server",
		"app.kubernetes.io/component": "singleuser-server",
		"app":                         "jupyterhub",
		"release":                     "jhub",
		"app.kubernetes.io/instance":  "jhub",
		"hub.jupyter.org/username":    user,
		"hub.jupyter.org/servername":  "",
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "jupyter-" + user,
			Namespace:   userNS,
			Labels:      labels,
			Annotations: map[string]string{"hub.jupyter.org/username": user},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyOnFailure,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](100), FSGroup: ptr.To[int64](100),
			},
			Containers: []corev1.Container{{
				Name:            "notebook",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Ports:           []corev1.ContainerPort{{Name: "notebook-port", ContainerPort: 8888}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resourceMust("10m"), corev1.ResourceMemory: resourceMust("16Mi"),
				}},
			}},
		},
	}
}

func ensureUserNamespace(ctx context.Context, t *testing.T) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: userNS}}
	if err := env.c.Create(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("creating namespace %s: %v", userNS, err)
	}
}

// waitPodScheduled returns the pod once the scheduler bound it.
func waitPodScheduled(ctx context.Context, t *testing.T, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := env.c.Get(ctx, client.ObjectKey{Namespace: userNS, Name: name}, &p); err != nil {
			return false, nil
		}
		return p.Spec.NodeName != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s not scheduled: %v", name, err)
	}
	return &p
}

// waitPodRunning waits for the kubelet to report the pod Running.
func waitPodRunning(ctx context.Context, t *testing.T, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := env.c.Get(ctx, client.ObjectKey{Namespace: userNS, Name: name}, &p); err != nil {
			return false, nil
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod %s not Running (phase %s, statuses %+v): %v", name, p.Status.Phase, p.Status.ContainerStatuses, err)
	}
	return &p
}

// pulledRE reads the kubelet's Pulled event: `Successfully pulled image
// "X" in 1.2s (1.2s including waiting). Image size: N bytes.`
var pulledRE = regexp.MustCompile(`Successfully pulled image "([^"]+)" in ([0-9.]+[a-zµ]+) \(([0-9.]+[a-zµ]+) including waiting\)\. Image size: ([0-9]+) bytes`)

// pullEvents returns the kubelet's pull durations for pods in ns.
func pullEvents(ctx context.Context, ns string) ([]pull, error) {
	var evs corev1.EventList
	if err := env.c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	var out []pull
	for _, ev := range evs.Items {
		if ev.Reason != "Pulled" {
			continue
		}
		m := pulledRE.FindStringSubmatch(ev.Message)
		if m == nil {
			continue
		}
		d, err := time.ParseDuration(m[2])
		if err != nil {
			continue
		}
		size, _ := strconv.ParseInt(m[4], 10, 64)
		p := pull{Node: ev.Source.Host, Pod: ev.InvolvedObject.Name, Image: m[1], Bytes: size, Seconds: d.Seconds(), Message: ev.Message}
		if d > 0 {
			p.MBPerSec = float64(size) / d.Seconds() / 1e6
		}
		out = append(out, p)
	}
	return out, nil
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }
