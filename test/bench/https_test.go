package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/webhook"
)

// Bounds of one load level: whichever comes first.
const (
	loadRequests = 3000
	loadTime     = 10 * time.Second
)

// BenchmarkHTTPS drives the webhook server prepuller runs
// (controller-runtime's, TLS on loopback, 1,000-node inventory) with
// AdmissionReviews at several concurrencies, each client keeping its
// connection alive as the API server does. Run with -benchtime=1x: each
// level sends a bounded number of requests whatever b.N is, and reports
// throughput and latency percentiles.
func BenchmarkHTTPS(b *testing.B) {
	opts := envtest.WebhookInstallOptions{LocalServingHost: "127.0.0.1"}
	if err := opts.PrepWithoutInstalling(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = opts.Cleanup() }()
	srv := crwebhook.NewServer(crwebhook.Options{Host: opts.LocalServingHost, Port: opts.LocalServingPort, CertDir: opts.LocalServingCertDir})
	srv.Register(webhook.Path, &admission.Webhook{Handler: newHandler(b, newInventory(1000))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() { cancel(); <-done }()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(opts.LocalServingCAData)
	url := fmt.Sprintf("https://%s:%d%s", opts.LocalServingHost, opts.LocalServingPort, webhook.Path)
	req := admissionRequest(b, userPod("jupyter-alice", steeringImage("few")))
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return srv.StartedChecker()(nil) == nil, nil
	}); err != nil {
		b.Fatalf("webhook server did not start: %v", err)
	}

	for _, conc := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				MaxIdleConnsPerHost: conc,
				MaxConnsPerHost:     conc,
			}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			for b.Loop() {
				lat, elapsed, errs := load(client, url, body, conc)
				if errs > 0 {
					b.Fatalf("%d of %d requests failed", errs, len(lat)+errs)
				}
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
				b.ReportMetric(micros(quantile(lat, 0.50)), "p50-µs")
				b.ReportMetric(micros(quantile(lat, 0.99)), "p99-µs")
				b.ReportMetric(float64(len(lat)), "requests")
			}
		})
	}
}

// load sends up to loadRequests requests from conc workers for at most
// loadTime and returns the sorted latencies of the successful ones.
func load(client *http.Client, url string, body []byte, conc int) ([]time.Duration, time.Duration, int) {
	var (
		next     atomic.Int64
		failures atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, loadRequests)
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(loadTime)
	for range conc {
		wg.Go(func() {
			mine := make([]time.Duration, 0, loadRequests/conc+1)
			for next.Add(1) <= loadRequests && time.Now().Before(deadline) {
				t0 := time.Now()
				if err := post(client, url, body); err != nil {
					failures.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, elapsed, int(failures.Load())
}

func post(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &review); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || review.Response == nil || !review.Response.Allowed {
		return fmt.Errorf("status %d, response %s", resp.StatusCode, data)
	}
	return nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
