package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWebhookCalls(t *testing.T) {
	const text = `# HELP apiserver_admission_webhook_fail_open_count [ALPHA] Admission webhook fail open count
# TYPE apiserver_admission_webhook_fail_open_count counter
apiserver_admission_webhook_fail_open_count{name="steer.pods.prepuller.dev",type="admit"} 3
apiserver_admission_webhook_fail_open_count{name="other.example.com",type="admit"} 7
apiserver_admission_webhook_admission_duration_seconds_count{name="steer.pods.prepuller.dev",operation="CREATE",rejected="false",type="admit"} 40
apiserver_admission_webhook_admission_duration_seconds_count{name="steer.pods.prepuller.dev",operation="CREATE",rejected="true",type="admit"} 2
apiserver_admission_webhook_admission_duration_seconds_sum{name="steer.pods.prepuller.dev",operation="CREATE",rejected="false",type="admit"} 0.25
apiserver_admission_webhook_admission_duration_seconds_count{name="other.example.com",operation="CREATE",rejected="false",type="admit"} 99
`
	type result struct {
		Calls, FailedOpen float64
		Found, Err        bool
	}
	for name, tc := range map[string]struct {
		text, webhook string
		want          result
	}{
		"sums the webhook's series only": {text: text, webhook: "steer.pods.prepuller.dev", want: result{Calls: 42, FailedOpen: 3, Found: true}},
		"no call series":                 {text: "apiserver_admission_webhook_fail_open_count{name=\"x\"} 1\n", webhook: "x", want: result{FailedOpen: 1}},
		"unknown webhook":                {text: text, webhook: "absent.example.com"},
		"bad value":                      {text: "apiserver_admission_webhook_fail_open_count{name=\"x\"} lots\n", webhook: "x", want: result{Err: true}},
	} {
		t.Run(name, func(t *testing.T) {
			calls, failedOpen, found, err := webhookCalls(tc.text, tc.webhook)
			got := result{calls, failedOpen, found, err != nil}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("webhookCalls (-want +got):\n%s", diff)
			}
		})
	}
}
