package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/test/builder"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

// logLines captures every line logged through controller-runtime's global
// logger (where both controller-runtime's webhook and prepuller's log), at
// every level.
var logLines = struct {
	once  sync.Once
	mu    sync.Mutex
	lines []string
}{}

func capturedLogs() func() []string {
	logLines.once.Do(func() {
		logf.SetLogger(funcr.New(func(prefix, args string) {
			logLines.mu.Lock()
			defer logLines.mu.Unlock()
			logLines.lines = append(logLines.lines, prefix+" "+args)
		}, funcr.Options{Verbosity: 0}))
	})
	logLines.mu.Lock()
	start := len(logLines.lines)
	logLines.mu.Unlock()
	return func() []string {
		logLines.mu.Lock()
		defer logLines.mu.Unlock()
		return append([]string(nil), logLines.lines[start:]...)
	}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestMalformedRequestsFlood posts garbage to the webhook's HTTP handler, as
// anyone who can reach its port can. Each malformed request is counted by
// reason, but the log gets at most one line per interval (with how many
// were left out), never one per request.
func TestMalformedRequestsFlood(t *testing.T) {
	logs := capturedLogs()
	clock := &testClock{t: fixedTime}
	rs, err := newReviewServer(newTestHandler(t, testInventory(), &wt.Recorder{}), prometheus.NewRegistry(), clock.now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rs)
	defer srv.Close()

	pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj()
	req := review(t, pod)
	valid, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metaAdmissionReview(), Request: &req.AdmissionRequest})
	if err != nil {
		t.Fatal(err)
	}

	type answer struct {
		Status  int   // HTTP status
		Code    int32 // response.status.code in the AdmissionReview
		Allowed bool
		Warned  bool
	}
	// The malformed answers are HTTP 400: the API server never sends such
	// a body, and were it ever to, a non-200 answer is a failed call (the
	// webhook's failurePolicy Ignore lets the pod through) where an
	// AdmissionReview with allowed=false would deny the pod.
	bad := answer{Status: 400, Code: 400}
	cases := []struct {
		reason, contentType, body string
		want                      answer
	}{
		{"empty_body", "application/json", "", bad},
		{"content_type", "text/plain", string(valid), bad},
		{"content_type", "", string(valid), bad},
		{"decode", "application/json", "{{", bad},
		{"decode", "application/json", "\x00\xff garbage", bad},
		// Valid JSON, but not shaped like an AdmissionReview.
		{"decode", "application/json", `{"request":{"kind":"Pod"}}`, bad},
		{"decode", "application/json", `[1,2,3]`, bad},
		// Decodable, but nothing the API server would send: admitted, with
		// a warning, as the handler does.
		{"no_request", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, answer{Status: 200, Code: 200, Allowed: true, Warned: true}},
		{"no_request", "application/json", `{"apiVersion":"v1","kind":"Pod"}`, answer{Status: 200, Code: 200, Allowed: true, Warned: true}},
	}
	const repeat = 25
	before := map[string]float64{}
	want := map[string]float64{}
	for _, tc := range cases {
		before[tc.reason] = testutil.ToFloat64(rs.malformed.WithLabelValues(tc.reason))
		want[tc.reason] += repeat
	}
	sent := 0
	for _, tc := range cases {
		for range repeat {
			got := post(t, srv.URL+Path, tc.contentType, tc.body)
			if got.Status != tc.want.Status || got.Code != tc.want.Code || got.Allowed != tc.want.Allowed || got.Warned != tc.want.Warned {
				t.Fatalf("%s %q: answer %+v, want %+v", tc.reason, tc.body, got, tc.want)
			}
			sent++
		}
	}
	for reason, n := range want {
		if got := testutil.ToFloat64(rs.malformed.WithLabelValues(reason)) - before[reason]; got != n {
			t.Errorf("prepuller_webhook_malformed_requests_total{reason=%q} grew by %v, want %v", reason, got, n)
		}
	}
	lines := logs()
	if len(lines) != 1 {
		t.Fatalf("%d malformed requests logged %d lines, want 1 (one per interval):\n%s", sent, len(lines), strings.Join(head(lines, 5), "\n"))
	}

	// A well-formed review is served as before, and logs nothing.
	if got := postReview(t, srv.URL+Path, valid); !got.Allowed || !got.patched {
		t.Errorf("valid review: %+v, want allowed with a patch", got)
	}
	if got := len(logs()); got != 1 {
		t.Errorf("a valid review added %d log lines", got-1)
	}

	// After the interval the next one is logged, saying how many were not.
	clock.add(malformedLogEvery)
	post(t, srv.URL+Path, "text/plain", "x")
	lines = logs()
	if len(lines) != 2 {
		t.Fatalf("after the interval: %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if suppressed := fmt.Sprintf(`"suppressed"=%d`, sent-1); !strings.Contains(lines[1], suppressed) {
		t.Errorf("second line does not say %s:\n%s", suppressed, lines[1])
	}
	for _, l := range lines {
		if strings.Contains(l, "goroutine") || strings.Contains(l, ".go:") {
			t.Errorf("a log line carries a stack trace:\n%s", l)
		}
	}
}

// TestMalformedUnreadableAndTooLarge covers what an HTTP client cannot send
// reliably: a body that fails while read, and one over the size limit.
func TestMalformedUnreadableAndTooLarge(t *testing.T) {
	capturedLogs()
	h, err := newReviewServer(newTestHandler(t, testInventory(), &wt.Recorder{}), prometheus.NewRegistry(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		body   io.Reader
		status int
	}{
		"read_error": {body: io.MultiReader(strings.NewReader(`{"request":`), errReader{}), status: 400},
		"too_large":  {body: io.MultiReader(strings.NewReader(`{"request":"`), strings.NewReader(strings.Repeat("x", 8<<20))), status: 413},
	}
	for reason, tc := range cases {
		t.Run(reason, func(t *testing.T) {
			before := testutil.ToFloat64(h.malformed.WithLabelValues(reason))
			r := httptest.NewRequest(http.MethodPost, Path, tc.body)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := testutil.ToFloat64(h.malformed.WithLabelValues(reason)) - before; got != 1 {
				t.Errorf("counted %v, want 1", got)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

type postAnswer struct {
	Status  int
	Code    int32
	Allowed bool
	Warned  bool
	patched bool
}

func post(t *testing.T, url, contentType, body string) postAnswer {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &ar); err != nil || ar.Response == nil {
		t.Fatalf("answer is not an AdmissionReview: %v: %s", err, raw)
	}
	a := postAnswer{Status: resp.StatusCode, Allowed: ar.Response.Allowed, Warned: len(ar.Response.Warnings) > 0, patched: len(ar.Response.Patch) > 0}
	if ar.Response.Result != nil {
		a.Code = ar.Response.Result.Code
	}
	return a
}

func postReview(t *testing.T, url string, body []byte) postAnswer {
	t.Helper()
	return post(t, url, "application/json", string(bytes.TrimSpace(body)))
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestTwoServersShareTheCounter: two webhook servers in one process (tests
// start two replicas) register on the same registry without failing, and
// count into the same series.
func TestTwoServersShareTheCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := newReviewServer(newTestHandler(t, testInventory(), &wt.Recorder{}), reg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newReviewServer(newTestHandler(t, testInventory(), &wt.Recorder{}), reg, time.Now)
	if err != nil {
		t.Fatalf("second server on the same registry: %v", err)
	}
	for _, s := range []http.Handler{a, b} {
		r := httptest.NewRequest(http.MethodPost, Path, strings.NewReader("{{"))
		r.Header.Set("Content-Type", "application/json")
		s.ServeHTTP(httptest.NewRecorder(), r)
	}
	if got := testutil.ToFloat64(a.malformed.WithLabelValues(malformedDecode)); got != 2 {
		t.Errorf("decode count %v, want 2", got)
	}
}
