package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/test/builder"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

// TestHTTP goes through controller-runtime's webhook.Admission as the
// webhook server serves it: malformed AdmissionReviews get code 400 and a
// message saying what is wrong (in the AdmissionReview's response status;
// controller-runtime always answers HTTP 200), and nothing panics.
func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(&webhook.Admission{Handler: newTestHandler(t, testInventory(), &wt.Recorder{})})
	defer srv.Close()

	pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj()
	req := review(t, pod)
	valid, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metaAdmissionReview(),
		Request:  &req.AdmissionRequest,
	})
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		Code     int32
		Message  string // a substring of the message
		Allowed  bool
		HasPatch bool
		Warning  string // a substring of the warnings
	}
	cases := map[string]struct {
		body        string
		contentType string
		want        result
	}{
		"valid review": {body: string(valid), want: result{Code: 200, Allowed: true, HasPatch: true}},
		"empty body":   {body: "", want: result{Code: 400, Message: "request body is empty"}},
		"not JSON":     {body: "{{", want: result{Code: 400, Message: "invalid character"}},
		// Decodable but empty: not from the API server, yet an error
		// answer would be a denial. Admitted, with a warning saying why.
		"not a review":       {body: `{"apiVersion":"v1","kind":"Pod"}`, want: result{Code: 200, Allowed: true, Warning: "AdmissionReview has no request"}},
		"review, no request": {body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, want: result{Code: 200, Allowed: true, Warning: "AdmissionReview has no request"}},
		"wrong content type": {body: string(valid), contentType: "text/plain", want: result{Code: 400, Message: "expected application/json"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			resp, err := http.Post(srv.URL+Path, ct, bytes.NewBufferString(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var ar admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &ar); err != nil || ar.Response == nil {
				t.Fatalf("response is not an AdmissionReview: %v: %s", err, body)
			}
			got := result{Allowed: ar.Response.Allowed, HasPatch: len(ar.Response.Patch) > 0}
			if w := strings.Join(ar.Response.Warnings, "; "); tc.want.Warning != "" && strings.Contains(w, tc.want.Warning) {
				got.Warning = tc.want.Warning
			} else {
				got.Warning = w
			}
			if ar.Response.Result != nil {
				got.Code = ar.Response.Result.Code
				if strings.Contains(ar.Response.Result.Message, tc.want.Message) {
					got.Message = tc.want.Message
				} else {
					got.Message = ar.Response.Result.Message
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}
