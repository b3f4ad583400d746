package faults

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

// Load-held sweep (issue 14, item 3): the same open-loop stream of user pod
// creates goes through the API server to prepuller's two replicas and to
// a no-op webhook (allowed, no patch: the floor of any mutating webhook),
// in turns, at rising rates.
const (
	loadUsers  = 1000 // pods alive at most: a user's next pod replaces the last
	loadNodes  = 200
	loadWarm   = 2 * time.Second // after a switch, not measured
	loadPhase  = 8 * time.Second // measured per arm and round
	loadRounds = 3               // noop, prepuller, noop, prepuller, ... per rate
	// prepuller holds a rate while it adds at most this over the no-op's
	// p99.
	loadSlack = time.Millisecond
)

var loadRates = []int{10, 25, 50, 100, 200, 400}

// -max-affinity-nodes sets the replicas' webhook.maxAffinityNodes (0: the
// default, 100), to measure what the term's size costs the API server:
//
//	go test -run '^$' -bench LoadHeld -benchtime 1x ./test/faults/ -args -max-affinity-nodes=10
var maxAffinityNodes = flag.Int("max-affinity-nodes", 0, "the replicas' webhook.maxAffinityNodes (0: prepuller's default)")

// BenchmarkLoadHeld finds the highest create rate at which prepuller adds
// no more than the no-op webhook plus 1 ms at p99, with two replicas, and
// prepuller's CPU and memory there. Run it alone (it takes about 7 minutes):
//
//	go test -run '^$' -bench LoadHeld -benchtime 1x ./test/faults/
func BenchmarkLoadHeld(b *testing.B) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for range b.N {
		e := startEnv(ctx, b, false)
		steered := createNodes(ctx, b, e.cs)
		noop := startNoop(ctx, b, e.certDirs[0])
		// The stream's client must not be its limit: a create and a
		// delete per pod at 400 a second.
		rc := *e.c.Config
		rc.QPS, rc.Burst = 5000, 5000
		cs, err := kubernetes.NewForConfig(&rc)
		if err != nil {
			b.Fatal(err)
		}
		e.spawner = newSpawner(cs, loadUsers, 1)
		// Warm up: images learned, the inventory holding the nodes.
		e.spawner.run(timeout(ctx, 8*time.Second), 25)
		steady(ctx, b, e, 2*time.Minute)
		b.Logf("%d nodes; the %d images are on %s of them; webhook.maxAffinityNodes %d (0: the default)", loadNodes, imageCount, steered, *maxAffinityNodes)
		b.Logf("| creates/s | no-op p50 / p99 | prepuller p50 / p99 | prepuller p99 - no-op p99 | creates no-op / prepuller (wanted) | failed | prepuller CPU (cores, both replicas) | RSS per replica | held |")
		held := 0
		for _, rate := range loadRates {
			r := measureRate(ctx, b, e, noop, rate)
			ok := r.sustained() && r.failed == 0 && r.prepuller.p99 <= r.noop.p99+loadSlack
			b.Logf("| %d | %s / %s | %s / %s | %s | %d / %d (%d) | %d | %.2f (%.2f while the no-op served) | %s | %t |", rate,
				ms(r.noop.p50), ms(r.noop.p99), ms(r.prepuller.p50), ms(r.prepuller.p99), ms(r.prepuller.p99-r.noop.p99),
				r.noop.attempted, r.prepuller.attempted, r.want, r.failed, r.cpu, r.idleCPU, mib(r.rss), ok)
			if r.failed > 0 {
				b.Errorf("at %d creates/s, %d creates failed, e.g. %v", rate, r.failed, append(r.noop.errs, r.prepuller.errs...))
			}
			if !r.sustained() {
				b.Logf("the stream fell short of %d creates/s (no-op %d, prepuller %d of %d): the limit of the API server (and etcd) on this machine", rate, r.noop.attempted, r.prepuller.attempted, r.want)
				break
			}
			// Every sustained rate is measured: on a shared machine one
			// noisy tail must not hide the rates above it.
			if ok {
				held = rate
				b.ReportMetric(r.cpu, "cores")
				b.ReportMetric(float64(r.rss)/(1<<20), "MiB/replica")
			}
		}
		b.ReportMetric(float64(held), "creates/s-held")
		b.Logf("held: %d creates/s (the highest rate at which prepuller's p99 stayed within the no-op's + %s)", held, loadSlack)
	}
}

type rateResult struct {
	noop, prepuller window
	want, failed    int
	cpu, idleCPU    float64 // cores: CPU seconds of both replicas per second
	rss             int64   // the larger replica's, at the end
}

// sustained: both arms got at least 90% of the creates the rate asks for.
func (r rateResult) sustained() bool {
	return r.noop.attempted*10 >= r.want*9 && r.prepuller.attempted*10 >= r.want*9
}

// measureRate runs the stream at rate in turns through the no-op webhook
// and prepuller, loadRounds each, and pools each arm's creates.
func measureRate(ctx context.Context, b *testing.B, e *env, noop string, rate int) rateResult {
	r := rateResult{want: rate * int(loadPhase/time.Second) * loadRounds}
	var noopSpans, prepullerSpans [][2]time.Time
	var cpu, idle [2]time.Duration // CPU time, wall time
	for range loadRounds {
		for _, arm := range []string{"noop", "prepuller"} {
			if arm == "noop" {
				e.proxy.route([]string{noop})
			} else {
				e.proxy.route(e.hooks)
			}
			c0 := replicasCPU(b, e)
			start := time.Now()
			e.spawner.run(timeout(ctx, loadWarm+loadPhase), rate)
			wall, used := time.Since(start), replicasCPU(b, e)-c0
			span := [2]time.Time{start.Add(loadWarm), start.Add(loadWarm + loadPhase)}
			if arm == "noop" {
				noopSpans = append(noopSpans, span)
				idle[0], idle[1] = idle[0]+used, idle[1]+wall
			} else {
				prepullerSpans = append(prepullerSpans, span)
				cpu[0], cpu[1] = cpu[0]+used, cpu[1]+wall
			}
		}
	}
	e.proxy.route(e.hooks)
	r.noop, r.prepuller = e.spawner.windows(noopSpans), e.spawner.windows(prepullerSpans)
	r.failed = (r.noop.attempted - r.noop.succeeded) + (r.prepuller.attempted - r.prepuller.succeeded)
	r.cpu, r.idleCPU = cpu[0].Seconds()/cpu[1].Seconds(), idle[0].Seconds()/idle[1].Seconds()
	for _, rp := range e.replicas {
		if _, rss, err := rp.usage(); err == nil {
			r.rss = max(r.rss, rss)
		}
	}
	return r
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
// which every node holds (no term: all_hold).
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
			if j%(i+1) == 0 {
				n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{imageName(i)}, SizeBytes: 3 << 30})
			}
		}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	counts := make([]string, 0, imageCount)
	for i := range imageCount {
		counts = append(counts, strconv.Itoa((loadNodes+i)/(i+1)))
	}
	return strings.Join(counts, ", ")
}

// startNoop serves a webhook that allows every pod with no patch, over the
// same TLS (the replicas' self-signed certificate) and HTTP stack as
// prepuller's, and returns its address.
func startNoop(ctx context.Context, b *testing.B, certDir string) string {
	addr, err := cluster.FreeAddr()
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	portN, _ := strconv.Atoi(port)
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: portN, CertDir: certDir})
	srv.Register(webhook.Path, &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
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
	return addr
}

func timeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	context.AfterFunc(c, cancel)
	return c
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
