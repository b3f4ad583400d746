package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/test/cluster"
)

// TestLeaderFailover: the leader pod is force-deleted while user pods are
// being created. Every create succeeds, the other replica takes the lease,
// no learned image is lost from the DaemonSet or the saved state, and an
// image first used during the outage is learned.
func TestLeaderFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ensureUserNamespace(ctx, t)
	leader := leaderPod(ctx, t)
	survivors := prepullerPods(ctx, t, leader)
	learned := refs(env.images.users)

	// The burst: user pods that stay Pending (they require a node purpose
	// no node has, as the chart's matchNodePurpose: require would), so the
	// webhook and the puller see them but no kubelet starts them.
	const burst = 40
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				img := learned[i%len(learned)]
				if i >= burst/2 {
					// After the leader is gone: an image nobody used before.
					img = env.images.failover
				}
				p := userPod(fmt.Sprintf("burst%02d", i), img)
				p.Spec.NodeSelector = map[string]string{"hub.jupyter.org/node-purpose": "user"}
				if err := env.c.Create(ctx, p); err != nil {
					errs <- fmt.Errorf("creating %s: %w", p.Name, err)
				}
			}
		}()
	}
	calls0, failedOpen0 := webhookCounts(ctx, t)
	killedAt := time.Now()
	for i := range burst {
		if i == burst/4 {
			var p corev1.Pod
			p.Namespace, p.Name = prepullerNS, leader
			if err := env.c.Delete(ctx, &p, client.GracePeriodSeconds(0)); err != nil {
				t.Fatalf("force-deleting leader %s: %v", leader, err)
			}
			killedAt = time.Now()
			t.Logf("force-deleted leader %s", leader)
		}
		next <- i
		time.Sleep(100 * time.Millisecond)
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	env.results.FailoverCreates = burst

	// Another pod holds the lease.
	var holder string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		holder = leaseHolder(ctx)
		return holder != "" && !strings.HasPrefix(holder, leader+"_"), nil
	})
	if err != nil {
		t.Fatalf("no new leader (holder %q): %v", holder, err)
	}
	env.results.FailoverTakeoverSecs = time.Since(killedAt).Seconds()
	newLeader, _, _ := strings.Cut(holder, "_")
	env.results.FailoverTakenBySurvivor = survivors[newLeader]
	t.Logf("new leader %s (the surviving replica: %v), %.1fs after the force delete", newLeader, survivors[newLeader], env.results.FailoverTakeoverSecs)

	// No learned image lost, and the image first used after the kill learned.
	want := append(append([]string(nil), learned...), env.images.failover)
	var ds appsv1.DaemonSet
	var state corev1.ConfigMap
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: pullerDaemonSet}, &ds); err != nil {
			return false, nil
		}
		if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: "prepuller-puller-state"}, &state); err != nil {
			return false, nil
		}
		for _, ref := range want {
			if containerFor(ds.Spec.Template.Spec.InitContainers, ref) == "" || !strings.Contains(state.Data["state.json"], ref) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var have []string
		for _, c := range ds.Spec.Template.Spec.InitContainers {
			have = append(have, c.Image)
		}
		t.Fatalf("after the failover the DaemonSet has %v, want all of %v: %v", have, want, err)
	}
	if err := waitDeploymentReady(ctx, env.c, 3*time.Minute); err != nil {
		t.Error(err)
	}
	// How many creates the webhook answered: the rest the API server
	// admitted unchanged under failurePolicy Ignore, and counted as failed
	// open. Reported, not asserted. (The steered annotation cannot tell:
	// the webhook writes it only on the pods it steers.)
	calls1, failedOpen1 := webhookCounts(ctx, t)
	if calls1-calls0 < burst {
		t.Errorf("kube-apiserver called the webhook %v times for %d creates", calls1-calls0, burst)
	}
	// A create failed open at most once (no other webhook mutates here,
	// so none is reinvoked).
	env.results.FailoverAnswered = burst - int(failedOpen1-failedOpen0)
	t.Logf("webhook answered %d of %d creates", env.results.FailoverAnswered, burst)
	for i := range burst {
		var p corev1.Pod
		p.Namespace, p.Name = userNS, fmt.Sprintf("jupyter-burst%02d", i)
		_ = env.c.Delete(ctx, &p, client.GracePeriodSeconds(0))
	}
}

// webhookCounts reads from kube-apiserver's metrics how many times it has
// called prepuller's webhook and how many of those calls it failed open.
// A missing call series fails the test: the fail-open count alone would
// read zero and report every create answered.
func webhookCounts(ctx context.Context, t *testing.T) (calls, failedOpen float64) {
	t.Helper()
	calls, failedOpen, found, err := cluster.WebhookCalls(ctx, env.cs, "steer.pods.prepuller.dev")
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("kube-apiserver's metrics have no call count for steer.pods.prepuller.dev")
	}
	return calls, failedOpen
}

// prepullerPods names prepuller's pods other than except.
func prepullerPods(ctx context.Context, t *testing.T, except string) map[string]bool {
	t.Helper()
	var pods corev1.PodList
	if err := env.c.List(ctx, &pods, client.InNamespace(prepullerNS), client.MatchingLabels{"app.kubernetes.io/component": "controller"}); err != nil {
		t.Fatalf("listing prepuller pods: %v", err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		if p.Name != except {
			out[p.Name] = true
		}
	}
	return out
}

// leaderPod is the name of the prepuller pod holding the leader lease.
func leaderPod(ctx context.Context, t *testing.T) string {
	t.Helper()
	var holder string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		holder = leaseHolder(ctx)
		return holder != "", nil
	})
	if err != nil {
		t.Fatalf("no leader lease: %v", err)
	}
	// controller-runtime's identity is <hostname>_<uuid>; the hostname is
	// the pod name.
	name, _, _ := strings.Cut(holder, "_")
	return name
}

func leaseHolder(ctx context.Context) string {
	var l coordinationv1.Lease
	if err := env.c.Get(ctx, client.ObjectKey{Namespace: prepullerNS, Name: "prepuller-leader"}, &l); err != nil {
		return ""
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
