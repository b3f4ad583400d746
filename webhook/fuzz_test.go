package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/test/builder"
)

// checkingRecorder fails the fuzz run on an admission the puller could
// not match to a pod: it must name the pod or its generateName prefix, and
// at least one image.
type checkingRecorder struct{ t *testing.T }

func (r checkingRecorder) Admitted(a imageset.Admission) {
	if a.Name == "" && a.GenerateName == "" || a.Images < 1 || a.Namespace == "" {
		r.t.Errorf("admission %+v names no pod or no image", a)
	}
}

// fuzzPods are real user pods, as KubeSpawner makes them.
func fuzzPods() []*corev1.Pod {
	return []*corev1.Pod{
		builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj(),
		builder.MakeUserPod("jupyter-bob", hubNS, "bob").InitContainer("block-cloud-metadata", "quay.io/jupyterhub/k8s-network-tools:4.0.0").
			Container("notebook", "quay.io/jupyter/r-notebook:2024").PullPolicy(corev1.PullAlways).PullSecret("registry-cred").
			Annotation(AnnotationExtraImages, "rocker/binder:latest, jupyter/base-notebook").Obj(),
		builder.MakeUserPod("", "jupyterhub-carol", "carol").GenerateName("jupyter-carol-").Container("notebook", "Not:Valid:").
			Annotation(AnnotationSteer, "false").Obj(),
	}
}

// FuzzDecodePod: the pod in an AdmissionRequest. decodePod must not panic,
// and a pod it accepts must have its images listed without panicking.
func FuzzDecodePod(f *testing.F) {
	for _, p := range fuzzPods() {
		raw, err := json.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{"", "null", "{}", `{"spec":{"containers":null}}`, `{"metadata":{"annotations":{"a":1}}}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := decodePod(raw)
		if err != nil {
			if p != nil {
				t.Fatalf("decodePod returned a pod with error %v", err)
			}
			return
		}
		_ = p.displayName()
	})
}

// FuzzAdmissionReview posts raw bytes to the handler as the webhook server
// serves it, through controller-runtime's admission.Webhook, which decodes
// the AdmissionReview. Whatever the body, it must answer HTTP 200 with an
// AdmissionReview holding a response (an error is a 4xx code in it), for
// the request's UID when there is one, and never panic.
func FuzzAdmissionReview(f *testing.F) {
	for _, p := range fuzzPods() {
		req := review(f, p)
		body, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metaAdmissionReview(), Request: &req.AdmissionRequest})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range []string{
		"", "{{", `{"apiVersion":"v1","kind":"Pod"}`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":null}}`,
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{"spec":{}}}}`,
	} {
		f.Add([]byte(s))
	}
	inv := testInventory()
	f.Fuzz(func(t *testing.T, body []byte) {
		srv := &webhook.Admission{Handler: newTestHandler(t, inv, checkingRecorder{t})}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer is not an AdmissionReview with a response (%v): %s", err, rec.Body)
		}
		var in admissionv1.AdmissionReview
		if json.Unmarshal(body, &in) == nil && in.Request != nil && out.Response.UID != in.Request.UID {
			t.Fatalf("response for UID %q, request %q", out.Response.UID, in.Request.UID)
		}
		if out.Response.Result != nil && out.Response.Result.Code >= 500 {
			t.Fatalf("server error for client input: %+v", out.Response.Result)
		}
	})
}
