package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

const (
	ownNamespace  = "prepuller"
	userNamespace = "jhub"
	writeInterval = 2 * time.Second
)

type demo struct {
	nodes int
	keep  bool
	start time.Time

	metrics  string // prepuller's metrics address
	dir      string
	cluster  *cluster.Cluster
	k        client.Client
	prepull  *exec.Cmd
	prepDone chan struct{}
}

// userPod is one JupyterHub user starting a server.
type userPod struct{ user, image string }

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "prepuller-demo-"); err != nil {
		return err
	}
	say("building prepuller")
	bin := filepath.Join(d.dir, "prepuller")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/prepuller")
	build.Dir, build.Stdout, build.Stderr = cluster.RepoRoot(), os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building prepuller: %w", err)
	}

	say("starting etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok")
	t0 := time.Now()
	d.cluster, err = cluster.Start(ctx, cluster.Options{
		ControllerManager: true, Scheduler: true, Kwok: true,
		Dir: filepath.Join(d.dir, "cluster"),
		// A real MutatingWebhookConfiguration over TLS: envtest makes a CA
		// and a serving certificate for 127.0.0.1, puts the CA in caBundle
		// and points the configuration at the port prepuller serves on.
		Webhooks: cluster.PrepullerWebhooks(ownNamespace, userpod.DefaultOptions()),
	})
	if err != nil {
		return err
	}
	if d.k, err = client.New(d.cluster.Config, client.Options{}); err != nil {
		return err
	}
	for _, ns := range []string{ownNamespace, userNamespace} {
		if err := d.k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	names, err := cluster.CreateNodes(ctx, d.k, "user-node", d.nodes, cluster.NodeOptions{})
	if err != nil {
		return err
	}
	if err := d.waitNodesReady(ctx, names); err != nil {
		return err
	}
	say("control plane up in %s: %d kwok nodes Ready", since(t0), len(names))

	// One node already holds the course image, as if an earlier user ran it
	// there: the webhook should steer the next user of it to that node.
	const courseImage = "quay.io/jupyter/scipy-notebook:2024-10-07"
	if err := d.reportImage(ctx, names[0], courseImage, 4_200_000_000); err != nil {
		return err
	}
	say("%s already holds %s (node.status.images)", names[0], courseImage)

	if err := d.startPrepuller(ctx, bin); err != nil {
		return err
	}

	pods := []userPod{
		{"alice", courseImage},
		{"bob", "quay.io/jupyter/datascience-notebook:2024-10-07"},
		{"carol", "jupyter/minimal-notebook"}, // typed by the user: in no configuration
	}
	say("creating singleuser pods (label component=singleuser-server) in namespace %s", userNamespace)
	firstPod := time.Now()
	for _, p := range pods {
		if err := d.createUserPod(ctx, p); err != nil {
			return err
		}
	}
	if err := d.printPods(ctx, pods); err != nil {
		return err
	}

	say("waiting for the puller DaemonSet to pull the learned images on every node")
	var want []string
	for _, p := range pods {
		img, err := imageref.Normalize(p.image)
		if err != nil {
			return err
		}
		want = append(want, img)
	}
	ds, err := d.waitDaemonSetPulled(ctx, len(names), want)
	if err != nil {
		return err
	}
	say("puller DaemonSet %s/%s pulled on %d/%d nodes %s after the first pod; init containers in pull order:",
		ownNamespace, ds.Name, ds.Status.NumberReady, len(names), since(firstPod))
	for _, c := range ds.Spec.Template.Spec.InitContainers {
		fmt.Printf("    %-40s %s\n", c.Name, c.Image)
	}
	if err := d.printLearned(ctx); err != nil {
		return err
	}
	// The DaemonSet's status comes from the controller manager; prepuller's
	// inventory reads the puller pods' init-container statuses itself. Wait
	// until it, too, sees every image on every node.
	if err := d.waitNodeShares(ctx); err != nil {
		return err
	}

	say("a fourth user starts the datascience image, now on every node")
	late := userPod{"dave", "quay.io/jupyter/datascience-notebook:2024-10-07"}
	if err := d.createUserPod(ctx, late); err != nil {
		return err
	}
	if err := d.printPods(ctx, []userPod{late}); err != nil {
		return err
	}
	// alice's pod was steered: explain shows the recorded term.
	if err := d.runOps(ctx, bin, pods[0]); err != nil {
		return err
	}
	say("demo finished in %s", since(d.start))

	if d.keep {
		say("cluster left running: kubectl --kubeconfig %s get pods -A", d.cluster.Kubeconfig)
		say("prepuller's log: %s; press Ctrl-C to stop everything", filepath.Join(d.dir, "prepuller.log"))
		<-ctx.Done()
	}
	return nil
}

// startPrepuller runs `prepuller serve` as its own process with the
// certificate envtest made, and waits for /readyz.
func (d *demo) startPrepuller(ctx context.Context, bin string) error {
	hooks := d.cluster.Env.WebhookInstallOptions
	probe, err := cluster.FreeAddr()
	if err != nil {
		return err
	}
	if d.metrics, err = cluster.FreeAddr(); err != nil {
		return err
	}
	cfg := filepath.Join(d.dir, "config.yaml")
	// A short write window so the demo does not wait out the 10 s default.
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("puller:\n  writeInterval: %s\n", writeInterval)), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(d.dir, "prepuller.log"))
	if err != nil {
		return err
	}
	d.prepull = exec.Command(bin, "serve",
		"--config="+cfg,
		"--kubeconfig="+d.cluster.Kubeconfig,
		"--namespace="+ownNamespace,
		fmt.Sprintf("--webhook-port=%d", hooks.LocalServingPort),
		"--cert-dir="+hooks.LocalServingCertDir,
		"--cert-mode=files", // envtest made the certificate and the caBundle
		"--metrics-bind-address="+d.metrics,
		"--health-probe-bind-address="+probe,
		"--log-format=console",
		"--puller-image=prepuller:demo",
	)
	d.prepull.Stdout, d.prepull.Stderr = logf, logf
	d.prepull.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := d.prepull.Start(); err != nil {
		return fmt.Errorf("starting prepuller: %w", err)
	}
	d.prepDone = make(chan struct{})
	go func() { _ = d.prepull.Wait(); close(d.prepDone) }()
	exited := make(chan error, 1)
	go func() {
		<-d.prepDone
		exited <- fmt.Errorf("it exited; its log ends:\n%s", cluster.TailFile(logf.Name(), 20))
	}()
	if err := cluster.WaitReady(ctx, probe, exited); err != nil {
		return err
	}
	say("prepuller serve ready in %s (webhook https://127.0.0.1:%d%s, failurePolicy Ignore)", since(t0), hooks.LocalServingPort, webhook.Path)
	return nil
}

func (d *demo) createUserPod(ctx context.Context, p userPod) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "jupyter-" + p.user,
			Namespace: userNamespace,
			Labels: map[string]string{
				"component":                   "singleuser-server",
				"app.kubernetes.io/component": "singleuser-server",
				"hub.jupyter.org/username":    p.user,
			},
			Annotations: map[string]string{"hub.jupyter.org/username": p.user},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "notebook", Image: p.image}},
		},
	}
	if err := d.k.Create(ctx, pod); err != nil {
		return fmt.Errorf("creating pod for %s: %w", p.user, err)
	}
	return nil
}

// printPods shows what the webhook did to each pod and where the scheduler
// put it.
func (d *demo) printPods(ctx context.Context, pods []userPod) error {
	for _, p := range pods {
		var pod corev1.Pod
		key := client.ObjectKey{Namespace: userNamespace, Name: "jupyter-" + p.user}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := d.k.Get(ctx, key, &pod); err != nil {
				return false, nil
			}
			return pod.Spec.NodeName != "", nil
		})
		if err != nil {
			return fmt.Errorf("waiting for %s to be scheduled: %w", key, err)
		}
		fmt.Printf("  %-15s %-48s on %s\n", pod.Name, pod.Spec.Containers[0].Image, pod.Spec.NodeName)
		if steered := pod.Annotations[webhook.AnnotationSteered]; steered != "" {
			fmt.Printf("  %-15s steered: %q\n", "", steered)
		} else {
			fmt.Printf("  %-15s not steered (nothing to steer: prepuller wrote nothing)\n", "")
		}
		if term := ownTerm(&pod); term != "" {
			fmt.Printf("  %-15s affinity: %s\n", "", term)
		}
	}
	return nil
}

func ownTerm(pod *corev1.Pod) string {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		reqs := append(t.Preference.MatchFields, t.Preference.MatchExpressions...)
		for _, r := range reqs {
			if r.Key == webhook.MarkerLabel {
				continue // says "this term is prepuller's"; true on every node
			}
			return fmt.Sprintf("preferred weight %d, %s %s %v", t.Weight, r.Key, r.Operator, r.Values)
		}
	}
	return ""
}

func (d *demo) printLearned(ctx context.Context) error {
	var cm corev1.ConfigMap
	popts := puller.DefaultOptions()
	if err := d.k.Get(ctx, client.ObjectKey{Namespace: ownNamespace, Name: popts.StateConfigMapName}, &cm); err != nil {
		return fmt.Errorf("reading the learned image set: %w", err)
	}
	set, err := imageset.Decode([]byte(cm.Data[puller.StateKey]))
	if err != nil {
		return fmt.Errorf("decoding the learned image set: %w", err)
	}
	entries := set.Entries()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Image < entries[j].Image })
	say("learned images (ConfigMap %s/%s):", ownNamespace, popts.StateConfigMapName)
	for _, e := range entries {
		users := make([]string, 0, len(e.Users))
		for u := range e.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		fmt.Printf("    %-50s users %-12s first seen %s\n", e.Image, strings.Join(users, ","), e.FirstSeen.Format(time.TimeOnly))
	}
	return nil
}

// waitDaemonSetPulled waits until the DaemonSet lists every wanted image and
// its pods are up to date and ready on every node.
func (d *demo) waitDaemonSetPulled(ctx context.Context, nodes int, want []string) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	key := client.ObjectKey{Namespace: ownNamespace, Name: puller.DefaultOptions().DaemonSetName}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := d.k.Get(ctx, key, &ds); err != nil {
			return false, nil
		}
		listed := map[string]bool{}
		for _, c := range ds.Spec.Template.Spec.InitContainers {
			listed[c.Image] = true
		}
		for _, img := range want {
			if !listed[img] {
				return false, nil
			}
		}
		s := ds.Status
		return s.ObservedGeneration == ds.Generation && s.UpdatedNumberScheduled == int32(nodes) && s.NumberReady == int32(nodes), nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for DaemonSet %s: %w (see %s)", key, err, filepath.Join(d.dir, "prepuller.log"))
	}
	return &ds, nil
}

func (d *demo) waitNodesReady(ctx context.Context, names []string) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			var n corev1.Node
			if err := d.k.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
				return false, nil
			}
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			if !ready {
				return false, nil
			}
		}
		return true, nil
	})
}

// reportImage writes an image into a node's status, as the kubelet does.
// kwok writes the same status (heartbeats), so a conflict is retried over a
// fresh read.
func (d *demo) reportImage(ctx context.Context, node, image string, size int64) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var n corev1.Node
		if err := d.k.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
			return err
		}
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{image}, SizeBytes: size})
		return d.k.Status().Update(ctx, &n)
	})
	if err != nil {
		return fmt.Errorf("reporting %s on %s: %w", image, node, err)
	}
	return nil
}

func (d *demo) cleanup() {
	if d.prepull != nil && d.prepull.Process != nil {
		_ = syscall.Kill(-d.prepull.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.prepDone:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-d.prepull.Process.Pid, syscall.SIGKILL)
			<-d.prepDone
		}
	}
	if d.cluster != nil {
		if err := d.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
		}
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
}

func say(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// waitNodeShares polls prepuller's metrics until every image in the
// DaemonSet is held by all eligible nodes, and prints the shares.
func (d *demo) waitNodeShares(ctx context.Context) error {
	const metric = "prepuller_puller_image_node_share"
	var shares []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get("http://" + d.metrics + "/metrics")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, nil
		}
		shares = shares[:0]
		all := true
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(line, metric+"{") {
				continue
			}
			shares = append(shares, line)
			all = all && strings.HasSuffix(line, " 1")
		}
		return all && len(shares) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the inventory to see the pulled images (last %v): %w", shares, err)
	}
	say("prepuller's inventory agrees (metric %s):", metric)
	for _, l := range shares {
		fmt.Printf("    %s\n", strings.TrimPrefix(l, metric))
	}
	return nil
}

// runOps ends the demo with what an operator would type: prepuller status
// and prepuller explain, run as the same binary reading only the API.
func (d *demo) runOps(ctx context.Context, bin string, p userPod) error {
	kc := "--kubeconfig=" + d.cluster.Kubeconfig
	for _, args := range [][]string{
		{"status", kc, "-n", ownNamespace},
		{"explain", "jupyter-" + p.user, kc, "-n", userNamespace, "--prepuller-namespace", ownNamespace},
	} {
		say("$ prepuller %s", strings.Join(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == kc }), " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("prepuller %s: %w", args[0], err)
		}
	}
	return nil
}
