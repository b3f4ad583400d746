package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

// apiCycles is how many times each arm creates a pod: one cycle creates one
// pod per arm, in a shuffled order, so drift on a shared machine hits every
// arm alike, create by create. At 500, an arm's p99 is its 6th slowest
// create: raise it to read the tail.
var apiCycles = flag.Int("api-cycles", 500, "BenchmarkAPIServerPodCreate: pods each arm creates")

// armLabel routes a pod to its arm: every arm's webhook configuration
// selects pods carrying its value, so arms interleave pod by pod with no
// registration change between them.
const armLabel = "bench.prepuller.dev/arm"

// apiArm is one way the API server admits the benchmark's pods.
type apiArm struct {
	name string
	// answer is the webhook's response; nil for no webhook. prepuller's
	// arm calls the real handler instead.
	answer func(context.Context, admission.Request) admission.Response
	image  string // the pod's image: steeringImage("few") unless set
	names  int    // node names in the patch's term; 0: not steered
	calls  atomic.Int64
}

func (a *apiArm) Handle(ctx context.Context, req admission.Request) admission.Response {
	a.calls.Add(1)
	return a.answer(ctx, req)
}

// replayOf is prepuller's answer for the benchmark's pod over an inventory
// of nodes, computed once: served as is, the API server applies and stores
// prepuller's patch while no handler runs.
func replayOf(tb testing.TB, nodes int) (func(context.Context, admission.Request) admission.Response, int) {
	tb.Helper()
	inv := newInventory(nodes)
	answer := newHandler(tb, inv).Handle(context.Background(), admissionRequest(tb, userPod("jupyter-bench-0", steeringImage("few"))))
	if len(answer.Patches) == 0 {
		tb.Fatalf("prepuller's answer over %d nodes has no patch", nodes)
	}
	return func(context.Context, admission.Request) admission.Response { return answer }, inv.HolderCount(steeringImage("few"))
}

// BenchmarkAPIServerPodCreate creates user pods through a real
// kube-apiserver, one at a time, each admitted by one of several arms
// interleaved pod by pod: no webhook; a no-op webhook that answers allowed
// with no patch (the floor of any mutating webhook on this stack);
// prepuller's real handler over 1,000 nodes (its term names the 50 holding
// the image); and replays of prepuller's answer, computed once, naming 1,
// 10, 50 and 100 nodes (the patch's cost without the handler's, by the
// term's size). Every webhook is prepuller's own MutatingWebhookConfiguration
// (TLS, the same controller-runtime server), one per arm, each selecting its
// arm's pods by label. It reports each arm's p50 and p99 and what each adds
// over no webhook as a multiple of what the no-op adds (issue 14 aims for
// prepuller at most 1.2 at p50 and p99). Needs the control-plane binaries
// (KUBEBUILDER_ASSETS); run with -benchtime=1x.
func BenchmarkAPIServerPodCreate(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	h := newHandler(b, newInventory(1000))
	arms := []*apiArm{
		{name: "none"},
		{name: "noop", answer: func(context.Context, admission.Request) admission.Response { return admission.Allowed("") }},
		{name: "prepuller", answer: h.Handle},
		// The image no node holds: nothing to steer.
		{name: "prepuller-unsteered", answer: h.Handle, image: steeringImage("none")},
	}
	for _, nodes := range []int{20, 200, 1000} {
		answer, names := replayOf(b, nodes)
		arms = append(arms, &apiArm{name: fmt.Sprintf("replay%d", names), answer: answer, names: names})
	}
	// 100 names: the window of an image half of 1,000 nodes hold, the
	// most a term names at the default maxAffinityNodes.
	half := h.Handle(ctx, admissionRequest(b, userPod("jupyter-bench-0", steeringImage("half"))))
	arms = append(arms, &apiArm{name: "replay100", names: webhook.DefaultOptions().MaxAffinityNodes,
		answer: func(context.Context, admission.Request) admission.Response { return half }})
	arms[2].names = newInventory(1000).HolderCount(steeringImage("few"))
	// The smallest patch there is, one annotation: what the API server
	// spends on any mutation.
	pod := userPod("jupyter-bench-0", steeringImage("few"))
	before, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	pod.Annotations[webhook.AnnotationSteered] = "bench"
	after, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	annotated := admission.PatchResponseFromRaw(before, after)
	if len(annotated.Patches) != 1 {
		b.Fatalf("annotation patch: %v", annotated.Patches)
	}
	arms = append(arms, &apiArm{name: "annotation", answer: func(context.Context, admission.Request) admission.Response { return annotated }})

	var mwcs []*admissionregistrationv1.MutatingWebhookConfiguration
	for _, a := range arms {
		if a.answer == nil {
			continue
		}
		mwc := webhook.MutatingWebhookConfiguration("prepuller-bench-"+a.name, userpod.DefaultOptions(), ownNamespace, admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{Namespace: ownNamespace, Name: "prepuller-webhook", Path: ptr("/" + a.name)},
		})
		sel := mwc.Webhooks[0].ObjectSelector
		if sel.MatchLabels == nil {
			sel.MatchLabels = map[string]string{}
		}
		sel.MatchLabels[armLabel] = a.name
		mwcs = append(mwcs, mwc)
	}
	c, err := cluster.Start(ctx, cluster.Options{Webhooks: envtest.WebhookInstallOptions{
		MutatingWebhooks: mwcs,
		LocalServingHost: "127.0.0.1",
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	hooks := c.Env.WebhookInstallOptions
	srv := crwebhook.NewServer(crwebhook.Options{Host: hooks.LocalServingHost, Port: hooks.LocalServingPort, CertDir: hooks.LocalServingCertDir})
	for _, a := range arms {
		if a.answer != nil {
			srv.Register("/"+a.name, &admission.Webhook{Handler: a})
		}
	}
	srvCtx, stopSrv := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Start(srvCtx) }()
	defer func() { stopSrv(); <-done }()

	cfg := *c.Config
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, ns := range []string{ownNamespace, hubNamespace} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	// envtest registered each webhook by URL, with the path it was given.
	for _, a := range arms[1:] {
		got, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "prepuller-bench-"+a.name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if u := got.Webhooks[0].ClientConfig.URL; u == nil || !strings.HasSuffix(*u, "/"+a.name) {
			b.Fatalf("webhook of arm %s registered at %v", a.name, u)
		}
	}

	seq := 0
	create := func(a *apiArm) (time.Duration, error) {
		seq++
		image := a.image
		if image == "" {
			image = steeringImage("few")
		}
		pod := userPod(fmt.Sprintf("jupyter-bench-%d", seq), image)
		pod.Labels[armLabel] = a.name
		before := make([]int64, len(arms))
		for i, o := range arms {
			before[i] = o.calls.Load()
		}
		t0 := time.Now()
		got, err := cs.CoreV1().Pods(hubNamespace).Create(ctx, pod, metav1.CreateOptions{})
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		// The arm's webhook, and only it, saw the pod, and its patch (if
		// any) was applied: the term names the arm's nodes, and the
		// annotation is there exactly when the arm writes one.
		for i, o := range arms {
			if called := o.calls.Load() > before[i]; called != (o == a && a.answer != nil) {
				return d, fmt.Errorf("pod %s of arm %s: webhook of arm %s called %t", pod.Name, a.name, o.name, called)
			}
		}
		names := 0
		if af := got.Spec.Affinity; af != nil && af.NodeAffinity != nil && len(af.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
			names = len(af.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Preference.MatchExpressions[0].Values)
		}
		annotation, annotated := got.Annotations[webhook.AnnotationSteered]
		if names != a.names || annotated != (a.names > 0 || a.name == "annotation") || (a.name == "annotation" && annotation != "bench") {
			return d, fmt.Errorf("pod %s of arm %s: term names %d nodes (want %d), annotation %q", pod.Name, a.name, names, a.names, annotation)
		}
		return d, nil
	}
	// Registrations reach the API server's admission chain through an
	// informer: wait until every arm's pods are admitted as they should be.
	for _, a := range arms {
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			_, err := create(a)
			return err == nil, nil
		})
		if err != nil {
			b.Fatalf("waiting for the API server to admit arm %s's pods through its webhook: %v", a.name, err)
		}
	}

	rng := rand.New(rand.NewPCG(14, 2026))
	for b.Loop() {
		lat := make([][]time.Duration, len(arms))
		order := make([]int, len(arms))
		for i := range order {
			order[i] = i
		}
		for range *apiCycles {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, i := range order {
				d, err := create(arms[i])
				if err != nil {
					b.Fatal(err)
				}
				lat[i] = append(lat[i], d)
			}
		}
		q := make([][2]time.Duration, len(arms))
		for i, a := range arms {
			slices.Sort(lat[i])
			q[i] = [2]time.Duration{quantile(lat[i], 0.5), quantile(lat[i], 0.99)}
			b.ReportMetric(millis(q[i][0]), a.name+"-p50-ms")
			b.ReportMetric(millis(q[i][1]), a.name+"-p99-ms")
		}
		// What each patching arm adds over no webhook, as a multiple of
		// what the no-op adds: 1 is the floor of any mutating webhook.
		none, noop := q[0], q[1]
		for i, a := range arms[2:] {
			for j, name := range []string{"p50", "p99"} {
				if noop[j] <= none[j] {
					continue // the tail's noise, no ratio to give
				}
				b.ReportMetric(float64(q[i+2][j]-none[j])/float64(noop[j]-none[j]), a.name+"/noop-added-"+name)
			}
		}
		b.ReportMetric(float64(len(arms)**apiCycles), "pods")
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }
