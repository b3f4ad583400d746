package puller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/test/cluster"
)

// unpullable is the image kwok pretends no node can pull.
const unpullable = "docker.io/org/unpullable:1"

// failingStages returns kwok's stage file with one more stage: a pod that
// has an init container running unpullable reports it in ImagePullBackOff
// (what a kubelet reports), the init containers before it completed and
// those after it waiting; such pods never become ready.
func failingStages(t *testing.T) string {
	t.Helper()
	assets, err := cluster.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(assets, "kwok-stages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stages := string(data)
	hasBad := `'.spec.initContainers.[] | select(.image == "` + unpullable + `") | .name'`
	// Keep the default pod-ready stage off such pods.
	i := strings.Index(stages, "name: pod-ready")
	j := strings.Index(stages[i:], "matchExpressions:\n")
	if i < 0 || j < 0 {
		t.Fatal("kwok stages changed: no pod-ready stage with matchExpressions")
	}
	at := i + j + len("matchExpressions:\n")
	stages = stages[:at] + "    - key: " + hasBad + "\n      operator: 'DoesNotExist'\n" + stages[at:]
	stages += `
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-pull-fails
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: ` + hasBad + `
      operator: 'Exists'
    - key: '.status.initContainerStatuses'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $blocked := false }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Initialized
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        state:
        {{ if $blocked }}
          waiting:
            reason: PodInitializing
        {{ else if eq .image "` + unpullable + `" }}
          waiting:
            reason: ImagePullBackOff
            message: Back-off pulling image
        {{ $blocked = true }}
        {{ else }}
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        state:
          waiting:
            reason: PodInitializing
      {{ end }}
      phase: Pending
      startTime: {{ $now | Quote }}
`
	path := filepath.Join(t.TempDir(), "kwok-stages.yaml")
	if err := os.WriteFile(path, []byte(stages), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// With the real DaemonSet controller, an image no node can pull blocks the
// images after it; prepuller quarantines it from the puller pods' statuses,
// and the rolled-out pods then pull every other image on every node.
func TestQuarantineOnKwokNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{ControllerManager: true, Scheduler: true, Kwok: true, KwokStages: failingStages(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping cluster: %v", err)
		}
	})
	k, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cluster.CreateNodes(ctx, k, "user", 3, cluster.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved := k8s
	k8s = k
	t.Cleanup(func() { k8s = saved })
	e := newEnv(t)
	e.opts.FailureMinNodes = 2

	first, last := "docker.io/org/first:1", "docker.io/org/very-last:1"
	for i, u := range []string{"a", "b", "c"} {
		e.userPod("jupyter-"+u, u, first)
		if i < 2 {
			e.userPod("jupyter-bad-"+u, "bad-"+u, unpullable)
		}
	}
	e.userPod("jupyter-d", "d", last)
	// Started after the pods, prepuller adds all three in its first write,
	// in name order: the bad image blocks last on every node until it is
	// quarantined.
	e.start(startOpts{config: c.Config})
	e.waitImages([]string{first, unpullable, last})
	e.waitEvent(puller.ReasonImageQuarantined, unpullable)
	e.waitImages([]string{first, last})
	waitPulled(t, ctx, k, e, len(nodes), []string{first, last})

	s, _, err := e.state()
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Get(unpullable).Quarantine; q == nil || !strings.Contains(q.Reason, "ImagePullBackOff") {
		t.Errorf("quarantine not recorded with its reason: %+v", q)
	}
	var pods corev1.PodList
	if err := k.List(ctx, &pods, client.InNamespace(e.ns), client.MatchingLabelsSelector{Selector: puller.PodSelector(e.opts)}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d puller pods after the quarantine", len(pods.Items))
}
