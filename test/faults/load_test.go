package faults

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/test/builder"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

// Load-held sweep (issue 14, item 3): one open-loop stream of user pod
// creates goes through the API server, the pods in pairs, one to
// prepuller's two replicas and one to a no-op webhook (allowed, no patch: the floor of any
// mutating webhook), at rising rates. Split pod by pod, both arms see the
// same moments of the shared machine: the tail of one is not a pause the
// other missed.
const (
	loadUsers = 1000 // pods alive at most: a user's next pod replaces the last
	loadNodes = 200
	loadWarm  = 2 * time.Second // at each rate, not measured
	// prepuller holds a rate while it adds at most this over the no-op's
	// p99.
	loadSlack = time.Millisecond
)

// -load-rates and -load-measure set the sweep: a p99 of a few hundred
// creates is their few slowest, so read the bound from long runs:
//
//	go test -run '^$' -bench LoadHeld -benchtime 1x -timeout 60m ./test/faults/ -args -load-rates=25,50,100 -load-measure=4m
var (
	loadRates   = flag.String("load-rates", "10,25,50,100,200,400", "BenchmarkLoadHeld: create rates to sweep, per second")
	loadMeasure = flag.Duration("load-measure", 48*time.Second, "BenchmarkLoadHeld: time measured at each rate, both arms together")
	// -load-everywhere: every node holds every image, so prepuller has
	// nothing to steer; the default puts them on 10 to 200 of the 200
	// nodes, so that prepuller steers two thirds of its pods.
	loadEverywhere = flag.Bool("load-everywhere", false, "BenchmarkLoadHeld: every node holds every image (nothing to steer)")
)

// probeImage tells whether a pod went through prepuller (which steers it)
// or the no-op; the stream never runs it.
const probeImage = "quay.io/hub/probe:1"

// -max-affinity-nodes sets the replicas' webhook.maxAffinityNodes (0: the
// default, 100), to measure what the term's size costs the API server:
//
//	go test -run '^$' -bench LoadHeld -benchtime 1x ./test/faults/ -args -max-affinity-nodes=10
var maxAffinityNodes = flag.Int("max-affinity-nodes", 0, "the replicas' webhook.maxAffinityNodes (0: prepuller's default)")

// BenchmarkLoadHeld finds the highest create rate at which prepuller adds
// no more than the no-op webhook plus 1 ms at p99, with two replicas, and
// prepuller's CPU and memory there. Run it alone (it takes about 6 minutes):
//
//	go test -run '^$' -bench LoadHeld -benchtime 1x ./test/faults/
func BenchmarkLoadHeld(b *testing.B) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	var rates []int // before the setup: a typo must not cost its minutes
	for _, f := range strings.Split(*loadRates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || rate < 1 {
			b.Fatalf("-load-rates: %q is not a rate", f)
		}
		rates = append(rates, rate)
	}
	for range b.N {
		e := startEnv(ctx, b, false)
		steered := createNodes(ctx, b, e.cs)
		noop, noopCalls := startNoop(ctx, b, e.certDirs[0])
		splitArms(ctx, b, e.cs, noop, noopCalls)
		// The stream's client must not be its limit: a create and a
		// delete per pod at 400 a second.
		rc := *e.c.Config
		rc.QPS, rc.Burst = 5000, 5000
		cs, err := kubernetes.NewForConfig(&rc)
		if err != nil {
			b.Fatal(err)
		}
		e.spawner = newSpawner(cs, loadUsers, 1)
		e.spawner.split = true
		// Warm up: images learned, the inventory holding the nodes.
		e.spawner.run(timeout(ctx, 8*time.Second), 25)
		steady(ctx, b, e, 2*time.Minute)
		b.Logf("%d nodes; the %d images are on %s of them; webhook.maxAffinityNodes %d (0: the default)", loadNodes, imageCount, steered, *maxAffinityNodes)
		b.Logf("| creates/s | no-op p50 / p99 | prepuller p50 / p99 | prepuller p99 - no-op p99 | creates no-op / prepuller (wanted) | failed | prepuller CPU (cores, both replicas, half the stream) | RSS per replica | held |")
		// held: the highest rate that, and every rate below it, kept the
		// bound; heldAny: the highest that kept it at all (a noisy tail can
		// break the bound at one rate and not the next).
		held, heldAny, broken := 0, 0, false
		for _, rate := range rates {
			r := measureRate(ctx, b, e, noopCalls, rate)
			ok := r.sustained() && r.failed == 0 && r.prepuller.p99 <= r.noop.p99+loadSlack
			b.Logf("| %d | %s / %s | %s / %s | %s | %d / %d (%d) | %d | %.2f | %s | %t |", rate,
				ms(r.noop.p50), ms(r.noop.p99), ms(r.prepuller.p50), ms(r.prepuller.p99), ms(r.prepuller.p99-r.noop.p99),
				r.noop.attempted, r.prepuller.attempted, r.want, r.failed, r.cpu, mib(r.rss), ok)
			if r.failed > 0 {
				b.Errorf("at %d creates/s, %d creates failed, e.g. %v", rate, r.failed, append(r.noop.errs, r.prepuller.errs...))
			}
			if !r.sustained() {
				b.Logf("the stream fell short of %d creates/s (no-op %d, prepuller %d of %d): the limit of the API server (and etcd) on this machine", rate, r.noop.attempted, r.prepuller.attempted, r.want)
				break
			}
			// Every sustained rate is measured: on a shared machine one
			// noisy tail must not hide the rates above it.
			broken = broken || !ok
			if ok {
				heldAny = rate
				if !broken {
					held = rate
					b.ReportMetric(r.cpu, "cores")
					b.ReportMetric(float64(r.rss)/(1<<20), "MiB/replica")
				}
			}
		}
		b.ReportMetric(float64(held), "creates/s-held")
		b.ReportMetric(float64(heldAny), "creates/s-held-any")
		b.Logf("held: %d creates/s (the highest rate at which, and at every rate below which, prepuller's p99 stayed within the no-op's + %s); highest within it at all: %d", held, loadSlack, heldAny)
	}
}

type rateResult struct {
	noop, prepuller window
	want, failed    int     // want: creates each arm should get
	cpu             float64 // cores: CPU seconds of both replicas per second
	rss             int64   // the larger replica's, at the end
}

// sustained: both arms got at least 90% of the creates the rate asks for.
func (r rateResult) sustained() bool {
	return r.noop.attempted*10 >= r.want*9 && r.prepuller.attempted*10 >= r.want*9
}

// measureRate runs the split stream at rate and pools each arm's creates.
// The replicas answer half of it, but their watches see every pod.
//
// Both webhooks fail open (failurePolicy Ignore), so an arm whose calls
// failed (TLS, the proxy, a timeout) would look faster for skipping its
// webhook: the run fails unless the no-op was called for every one of its
// pods and kube-apiserver failed no call open.
func measureRate(ctx context.Context, b *testing.B, e *env, noopCalls *atomic.Int64, rate int) rateResult {
	r := rateResult{want: int(float64(rate) * loadMeasure.Seconds() / 2)}
	c0, calls0, open0 := replicasCPU(b, e), noopCalls.Load(), failedOpen(ctx, b, e.cs)
	start := time.Now()
	e.spawner.run(timeout(ctx, loadWarm+*loadMeasure), rate)
	wall, used := time.Since(start), replicasCPU(b, e)-c0
	if n := failedOpen(ctx, b, e.cs) - open0; n > 0 {
		b.Errorf("at %d creates/s kube-apiserver failed %v webhook calls open: those pods skipped their arm's webhook", rate, n)
	}
	// Every pod of the arm created, in warm-up too, went through admission.
	if created, called := e.spawner.armWindows("noop", [][2]time.Time{{start, time.Now()}}).succeeded, noopCalls.Load()-calls0; called < int64(created) {
		b.Errorf("at %d creates/s the no-op webhook answered %d of its arm's %d pods created", rate, called, created)
	}
	span := [][2]time.Time{{start.Add(loadWarm), start.Add(loadWarm + *loadMeasure)}}
	r.noop, r.prepuller = e.spawner.armWindows("noop", span), e.spawner.armWindows("prepuller", span)
	r.failed = (r.noop.attempted - r.noop.succeeded) + (r.prepuller.attempted - r.prepuller.succeeded)
	r.cpu = used.Seconds() / wall.Seconds()
	for _, rp := range e.replicas {
		if _, rss, err := rp.usage(); err == nil {
			r.rss = max(r.rss, rss)
		}
	}
	return r
}

// failedOpen is kube-apiserver's count of calls to prepuller's webhook it
// failed open: both arms' configurations carry that webhook name.
func failedOpen(ctx context.Context, b *testing.B, cs *kubernetes.Clientset) float64 {
	_, n, found, err := cluster.WebhookCalls(ctx, cs, webhook.WebhookName)
	if err != nil {
		b.Fatal(err)
	}
	if !found {
		b.Fatalf("kube-apiserver's metrics have no call count for %s", webhook.WebhookName)
	}
	return n
}

// splitArms registers the no-op webhook for the pods labelled "noop" and
// keeps prepuller's away from them; then waits until the API server sends
// each arm's pods where they belong. The no-op is called through a proxy
// of its own, as the replicas are through theirs, so both arms pay the same
// hop. cert-controller writes only the caBundle of prepuller's
// configuration, so the selector edit stays.
func splitArms(ctx context.Context, b *testing.B, cs *kubernetes.Clientset, noop string, noopCalls *atomic.Int64) {
	front, err := cluster.FreeAddr()
	if err != nil {
		b.Fatal(err)
	}
	p, err := newProxy(front, []string{noop})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.close)
	_, port, _ := net.SplitHostPort(front)

	mwcs := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	var other *admissionregistrationv1.MutatingWebhookConfiguration
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		own, err := mwcs.Get(ctx, "prepuller", metav1.GetOptions{})
		if err != nil {
			return err
		}
		other = &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "prepuller-load-noop"}, Webhooks: own.DeepCopy().Webhooks}
		for i := range own.Webhooks {
			sel := own.Webhooks[i].ObjectSelector
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: loadArmLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"noop"}})
			sel = other.Webhooks[i].ObjectSelector
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: loadArmLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"noop"}})
			u := fmt.Sprintf("https://localhost:%s%s", port, webhook.Path)
			other.Webhooks[i].ClientConfig.URL = &u
		}
		_, err = mwcs.Update(ctx, own, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mwcs.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// probeImage is on half the nodes: prepuller steers it, the no-op does
	// not. Once a prepuller pod is steered, prepuller knows the nodes
	// (they do not change), so a no-op pod left unsteered did not go
	// through prepuller.
	seq := 0
	probe := func(arm string) (steered, calledNoop bool, err error) {
		seq++
		calls := noopCalls.Load()
		pod := builder.MakeUserPod(fmt.Sprintf("jupyter-probe-%d", seq), hubNS, "probe").Container("notebook", probeImage).Label(loadArmLabel, arm).Obj()
		got, err := cs.CoreV1().Pods(hubNS).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return false, false, err
		}
		_ = cs.CoreV1().Pods(hubNS).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		return got.Spec.Affinity != nil, noopCalls.Load() > calls, nil
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		steered, calledNoop, err := probe("prepuller")
		return err == nil && steered && !calledNoop, err
	})
	if err != nil {
		b.Fatalf("prepuller does not steer its arm's pods: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		steered, calledNoop, err := probe("noop")
		return err == nil && !steered && calledNoop, err
	})
	if err != nil {
		b.Fatalf("the no-op arm's pods do not go to the no-op webhook alone: %v", err)
	}
}

func replicasCPU(b *testing.B, e *env) time.Duration {
	var sum time.Duration
	for _, r := range e.replicas {
		cpu, _, err := r.usage()
		if err != nil {
			b.Fatalf("%s: %v", r.name, err)
		}
		sum += cpu
	}
	return sum
}

// createNodes creates loadNodes Ready nodes; image i (of imageCount) is on
// every (i+1)-th node, so the stream's images are on 10 to 200 nodes:
// prepuller names 10 to 100 nodes in its affinity term, except for image 0,
// which every node holds (no term: all_hold). With -load-everywhere every
// node holds every image: nothing to steer.
// probeImage, which the stream never runs, is on every other node.
func createNodes(ctx context.Context, b *testing.B, cs *kubernetes.Clientset) string {
	for j := range loadNodes {
		name := fmt.Sprintf("node-%03d", j)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{inventory.HostnameLabel: name}}}
		n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		for i := range imageCount {
			if j%(i+1) == 0 || *loadEverywhere {
				n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{imageName(i)}, SizeBytes: 3 << 30})
			}
		}
		if j%2 == 0 {
			n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{probeImage}, SizeBytes: 1 << 30})
		}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	counts := make([]string, 0, imageCount)
	for i := range imageCount {
		n := (loadNodes + i) / (i + 1)
		if *loadEverywhere {
			n = loadNodes
		}
		counts = append(counts, strconv.Itoa(n))
	}
	return strings.Join(counts, ", ")
}

// startNoop serves a webhook that allows every pod with no patch, over the
// same TLS (the replicas' self-signed certificate) and HTTP stack as
// prepuller's, and returns its address and a count of its calls.
func startNoop(ctx context.Context, b *testing.B, certDir string) (string, *atomic.Int64) {
	var calls atomic.Int64
	addr, err := cluster.FreeAddr()
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	portN, _ := strconv.Atoi(port)
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: portN, CertDir: certDir})
	srv.Register(webhook.Path, &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		calls.Add(1)
		return admission.Allowed("")
	})})
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Start(srvCtx) }()
	b.Cleanup(func() { stop(); <-done })
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
	if err != nil {
		b.Fatalf("the no-op webhook does not listen on %s: %v", addr, err)
	}
	return addr, &calls
}

func timeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	context.AfterFunc(c, cancel)
	return c
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
