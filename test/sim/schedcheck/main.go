// Command schedcheck measures, against a real kube-scheduler, how often a
// pod with a preferred term naming some nodes lands on none of them when
// nothing else tells the nodes apart: the cost of kube-scheduler scoring
// only a contiguous run of its node list (percentageOfNodesToScore) on
// large clusters. It compares named nodes scattered over the node list
// with the same number of neighbours (docs/webhook.md, docs/placement.md):
//
//	go run ./test/sim/schedcheck -nodes 1000 -named 8 -pods 150 -holders scattered
//	go run ./test/sim/schedcheck -nodes 1000 -named 8 -pods 150 -holders neighbours
//
// Nodes are created in name order, empty and alike (8 CPUs, 32 GiB); each
// pod (the chart's node-purpose term at weight 100 and a hostname In term
// at 50, as prepuller writes it) is created, waited for until bound, and
// deleted before the next one, so load plays no part.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"prepuller.dev/prepuller/test/cluster"
)

func main() {
	nodes := flag.Int("nodes", 1000, "nodes, created in name order")
	pods := flag.Int("pods", 150, "pods, one at a time")
	named := flag.Int("named", 8, "nodes each pod's term names")
	holders := flag.String("holders", "scattered", "which nodes a term names: scattered (random) or neighbours (a run of consecutive nodes from a random start)")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*nodes, *pods, *named, *holders, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "schedcheck:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, named int, holders string, seed int64) error {
	if holders != "scattered" && holders != "neighbours" {
		return fmt.Errorf("-holders %q: want scattered or neighbours", holders)
	}
	if named < 1 || named > nodes {
		return fmt.Errorf("-named %d: want 1 to -nodes", named)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "schedcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "scheduler.yaml")
	kubeconfig := filepath.Join(dir, "cluster", "kubeconfig") // cluster.Start writes it there
	if err := os.WriteFile(conf, []byte(cluster.SchedulerConfig(kubeconfig)), 0o600); err != nil {
		return err
	}
	c, err := cluster.Start(ctx, cluster.Options{Scheduler: true, SchedulerConfig: conf, Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		return err
	}
	defer c.Stop()
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	names, err := createNodes(ctx, cs, nodes)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(seed))
	off := 0
	for p := range pods {
		var hold []string
		if holders == "scattered" {
			for _, i := range rng.Perm(nodes)[:named] {
				hold = append(hold, names[i])
			}
		} else {
			start := rng.Intn(nodes)
			for i := range named {
				hold = append(hold, names[(start+i)%nodes])
			}
		}
		slices.Sort(hold)
		node, err := schedule(ctx, cs, fmt.Sprintf("p%d", p), hold)
		if err != nil {
			return err
		}
		if !slices.Contains(hold, node) {
			off++
		}
	}
	fmt.Printf("%d nodes, %d pods, %d %s nodes named: %d (%.1f%%) landed on a node their term did not name\n",
		nodes, pods, named, holders, off, 100*float64(off)/float64(pods))
	return nil
}

// createNodes creates Ready, untainted nodes in name order (the API server
// taints a new node not-ready; no node controller runs here to lift it).
func createNodes(ctx context.Context, cs kubernetes.Interface, count int) ([]string, error) {
	var names []string
	for i := range count {
		name := fmt.Sprintf("user-node-%04d", i)
		n := cluster.NewNode(name, cluster.NodeOptions{Labels: map[string]string{"hub.jupyter.org/node-purpose": "user"}, CPU: "8", Memory: "32Gi"})
		n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating node %s: %w", name, err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		if n, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("marking node %s ready: %w", name, err)
		}
		n.Spec.Taints = nil
		if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("untainting node %s: %w", name, err)
		}
		names = append(names, name)
	}
	// Let the scheduler's cache take every node before the first pod.
	time.Sleep(3 * time.Second)
	return names, nil
}

// schedule creates a pod whose steering term names hold, waits until it is
// bound, deletes it, and returns its node.
func schedule(ctx context.Context, cs kubernetes.Interface, name string, hold []string) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "notebook", Image: "example.org/notebook:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("4Gi")}}}},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 100, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "hub.jupyter.org/node-purpose", Operator: corev1.NodeSelectorOpIn, Values: []string{"user"}}}}},
				{Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: hold}}}},
			}}},
		},
	}
	pods := cs.CoreV1().Pods(metav1.NamespaceDefault)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating pod %s: %w", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Spec.NodeName != "" {
			zero := int64(0)
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
				return "", fmt.Errorf("deleting pod %s: %w", name, err)
			}
			return got.Spec.NodeName, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("pod %s not bound after 30s (last error: %v)", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
