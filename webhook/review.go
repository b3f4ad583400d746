package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/logutil"
	"prepuller.dev/prepuller/pkg/promutil"
)

// Why prepuller has its own HTTP layer in front of controller-runtime's
// admission.Webhook.Handle: controller-runtime's ServeHTTP logs every body
// it cannot use at Error level, and the webhook port is reachable by anyone
// who can reach the pod. A client posting garbage in a loop would write one
// error (with a stack trace, under zap's production defaults) per request.
// Here a malformed request is counted by reason and logged at most once per
// malformedLogEvery, saying how many were left out.

// Reasons a request is malformed, as prepuller_webhook_malformed_requests_total
// labels them.
const (
	malformedEmptyBody   = "empty_body"
	malformedContentType = "content_type"
	malformedRead        = "read_error"
	malformedTooLarge    = "too_large"
	malformedDecode      = "decode"
	malformedNoRequest   = "no_request"
)

// malformedLogEvery is how often a malformed request may be logged.
const malformedLogEvery = 10 * time.Second

// maxReviewBytes bounds a request body, as controller-runtime does: two
// objects of at most 3 MiB each (the API server's limit) plus the review.
const maxReviewBytes = 7 << 20

func newMalformedVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_webhook_malformed_requests_total",
		Help: "Requests to the webhook that are not an AdmissionReview the API server would send (empty_body, content_type, read_error, too_large, decode, no_request); answered without reaching the handler.",
	}, []string{"reason"})
}

// reviewCodecs decodes AdmissionReview v1 and v1beta1 (the same fields) the
// way the API server encodes them.
var reviewCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	utilruntime.Must(admissionv1.AddToScheme(s))
	utilruntime.Must(admissionv1beta1.AddToScheme(s))
	return serializer.NewCodecFactory(s)
}()

// registerMalformed registers the malformed-request counter on reg, or
// reuses the one already there (two webhook servers in one process, as in
// tests, share the series).
func registerMalformed(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	vec, err := promutil.Register(reg, newMalformedVec())
	if err != nil {
		return nil, fmt.Errorf("registering prepuller_webhook_malformed_requests_total: %w", err)
	}
	return vec, nil
}

// anyVersionReview is not registered in reviewCodecs' scheme, so the decoder
// fills it field by field whichever of v1 and v1beta1 the body declares, and
// reports the declared version for the answer.
type anyVersionReview struct {
	admissionv1.AdmissionReview
}

// reviewServer serves AdmissionReviews over HTTP for an admission handler.
type reviewServer struct {
	webhook   *admission.Webhook
	malformed *prometheus.CounterVec
	log       *logutil.Sampled
}

// newReviewServer returns the http.Handler the webhook server serves at
// Path; its metric goes to reg. now is the clock of the log rate limit.
func newReviewServer(h admission.Handler, reg prometheus.Registerer, now func() time.Time) (*reviewServer, error) {
	malformed, err := registerMalformed(reg)
	if err != nil {
		return nil, err
	}
	return &reviewServer{
		malformed: malformed,
		// Handle (not ServeHTTP) of controller-runtime's Webhook: it
		// completes the response (UID, JSON patch) and recovers panics.
		webhook: &admission.Webhook{Handler: h},
		log:     &logutil.Sampled{Log: logf.Log.WithName("webhook"), Every: malformedLogEvery, Now: now},
	}, nil
}

func (s *reviewServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	review, reason, status, err := readReview(r)
	if err != nil {
		s.reject(r, reason, err)
		// Not 200: the API server never sends such a body, but if it ever
		// did, a failed call lets the pod through (failurePolicy Ignore)
		// where an AdmissionReview saying allowed=false would deny it. The
		// body still says what was wrong, for whoever sent it.
		resp := admission.Errored(int32(status), err)
		s.write(w, r, status, admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"), &resp.AdmissionResponse)
		return
	}
	gvk := review.GroupVersionKind()
	req := admission.Request{}
	if review.Request != nil {
		req.AdmissionRequest = *review.Request
	}
	if req.UID == "" {
		// Decodable, but the API server always sends a request with a UID.
		// Admitted, as the handler would, with a warning saying why.
		s.reject(r, malformedNoRequest, errors.New("AdmissionReview has no request (or a request without uid)"))
		resp := admission.Allowed("").WithWarnings("prepuller: AdmissionReview has no request (or a request without uid); nothing done")
		s.write(w, r, http.StatusOK, gvk, &resp.AdmissionResponse)
		return
	}
	resp := s.webhook.Handle(r.Context(), req)
	s.write(w, r, http.StatusOK, gvk, &resp.AdmissionResponse)
}

// readReview reads and decodes the body. On error it says why (a metric
// label) and with which HTTP status to answer.
func readReview(r *http.Request) (*anyVersionReview, string, int, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, malformedEmptyBody, http.StatusBadRequest, errors.New("request body is empty")
	}
	defer r.Body.Close()
	// Checked before reading: a wrong type needs no body read.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, malformedContentType, http.StatusBadRequest, fmt.Errorf("content type %q, expected application/json", r.Header.Get("Content-Type"))
	}
	if r.ContentLength > maxReviewBytes {
		return nil, malformedTooLarge, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes", maxReviewBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		return nil, malformedRead, http.StatusBadRequest, fmt.Errorf("reading request body: %w", err)
	}
	if len(body) > maxReviewBytes {
		return nil, malformedTooLarge, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes", maxReviewBytes)
	}
	if len(body) == 0 {
		return nil, malformedEmptyBody, http.StatusBadRequest, errors.New("request body is empty")
	}
	review := &anyVersionReview{}
	// The default kind when the body names none, as the API server's
	// answer must then be v1.
	review.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	_, gvk, err := reviewCodecs.UniversalDeserializer().Decode(body, nil, review)
	if err != nil {
		return nil, malformedDecode, http.StatusBadRequest, fmt.Errorf("decoding AdmissionReview: %w", err)
	}
	if gvk != nil && !gvk.Empty() {
		review.SetGroupVersionKind(*gvk)
	}
	return review, "", 0, nil
}

func (s *reviewServer) reject(r *http.Request, reason string, err error) {
	s.malformed.WithLabelValues(reason).Inc()
	s.log.Info("malformed admission request answered without the handler; not sent by the API server (see prepuller_webhook_malformed_requests_total)",
		"reason", reason, "error", err.Error(), "remoteAddr", r.RemoteAddr)
}

// write answers with an AdmissionReview of the version asked.
func (s *reviewServer) write(w http.ResponseWriter, r *http.Request, status int, gvk schema.GroupVersionKind, resp *admissionv1.AdmissionResponse) {
	ar := admissionv1.AdmissionReview{Response: resp}
	ar.SetGroupVersionKind(gvk)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(ar); err != nil {
		// Only a broken connection fails here (the API server gave up, or
		// a client hung up); rate-limited like the rest.
		s.log.Info("writing admission response", "error", err.Error(), "remoteAddr", r.RemoteAddr)
	}
}
