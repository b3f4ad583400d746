package bench

import (
	"context"
	"fmt"
	"sort"
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

// Pod creations per phase, and phases per arm (alternated, so drift on a
// shared machine hits both arms alike).
const (
	apiPodsPerPhase = 100
	apiRounds       = 3
)

// BenchmarkAPIServerPodCreate creates user pods through a real
// kube-apiserver, one at a time, with prepuller's
// MutatingWebhookConfiguration registered (the API server calls the webhook
// over TLS) and without it, alternating, in the same run. It reports each
// arm's median and p99 create latency and the ratio of the means. Needs the
// control-plane binaries (KUBEBUILDER_ASSETS); run with -benchtime=1x.
func BenchmarkAPIServerPodCreate(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mwc := webhook.MutatingWebhookConfiguration("prepuller", userpod.DefaultOptions(), ownNamespace, admissionregistrationv1.WebhookClientConfig{
		Service: &admissionregistrationv1.ServiceReference{Namespace: ownNamespace, Name: "prepuller-webhook", Path: ptr(webhook.Path)},
	})
	c, err := cluster.Start(ctx, cluster.Options{Webhooks: envtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{mwc},
		LocalServingHost: "127.0.0.1",
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	hooks := c.Env.WebhookInstallOptions
	srv := crwebhook.NewServer(crwebhook.Options{Host: hooks.LocalServingHost, Port: hooks.LocalServingPort, CertDir: hooks.LocalServingCertDir})
	srv.Register(webhook.Path, &admission.Webhook{Handler: newHandler(b, newInventory(1000))})
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
	registered, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, mwc.Name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	saved := registered.DeepCopy()
	saved.ResourceVersion, saved.UID, saved.CreationTimestamp, saved.ManagedFields = "", "", metav1.Time{}, nil

	seq := 0
	create := func() (time.Duration, bool, error) {
		seq++
		pod := userPod(fmt.Sprintf("jupyter-bench-%d", seq), steeringImage("few"))
		t0 := time.Now()
		got, err := cs.CoreV1().Pods(hubNamespace).Create(ctx, pod, metav1.CreateOptions{})
		d := time.Since(t0)
		if err != nil {
			return 0, false, err
		}
		_, mutated := got.Annotations[webhook.AnnotationSteered]
		return d, mutated, nil
	}
	// Registration changes reach the API server's admission chain through
	// an informer: wait until pods are (or are not) mutated.
	settle := func(want bool) {
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			_, mutated, err := create()
			return err == nil && mutated == want, nil
		})
		if err != nil {
			b.Fatalf("waiting for the webhook to be registered=%v: %v", want, err)
		}
	}
	phase := func(withWebhook bool) []time.Duration {
		var lat []time.Duration
		for range apiPodsPerPhase {
			d, mutated, err := create()
			if err != nil {
				b.Fatal(err)
			}
			if mutated != withWebhook {
				b.Fatalf("pod mutated=%v in a phase with webhook=%v", mutated, withWebhook)
			}
			lat = append(lat, d)
		}
		return lat
	}

	for b.Loop() {
		var with, without []time.Duration
		settle(true)
		for range apiRounds {
			with = append(with, phase(true)...)
			if err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, mwc.Name, metav1.DeleteOptions{}); err != nil {
				b.Fatal(err)
			}
			settle(false)
			without = append(without, phase(false)...)
			if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, saved.DeepCopy(), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			settle(true)
		}
		sort.Slice(with, func(i, j int) bool { return with[i] < with[j] })
		sort.Slice(without, func(i, j int) bool { return without[i] < without[j] })
		b.ReportMetric(millis(quantile(with, 0.5)), "with-p50-ms")
		b.ReportMetric(millis(quantile(with, 0.99)), "with-p99-ms")
		b.ReportMetric(millis(quantile(without, 0.5)), "without-p50-ms")
		b.ReportMetric(millis(quantile(without, 0.99)), "without-p99-ms")
		b.ReportMetric(float64(mean(with))/float64(mean(without)), "mean-ratio")
		b.ReportMetric(float64(len(with)+len(without)), "pods")
	}
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }
