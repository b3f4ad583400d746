package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// WebhookCalls reads from kube-apiserver's metrics how many times it has
// called the admission webhook named webhook and how many of those calls
// it failed open (failurePolicy Ignore). found is false when no call
// series names the webhook: a fail-open count of zero then proves nothing.
func WebhookCalls(ctx context.Context, cs kubernetes.Interface, webhook string) (calls, failedOpen float64, found bool, err error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, 0, false, fmt.Errorf("reading kube-apiserver's metrics: %w", err)
	}
	return webhookCalls(string(raw), webhook)
}

// webhookCalls sums, over the Prometheus text exposition in text, the
// samples of kube-apiserver's webhook call count and fail-open count that
// carry name="webhook".
func webhookCalls(text, webhook string) (calls, failedOpen float64, found bool, err error) {
	label := `name="` + webhook + `"`
	for line := range strings.Lines(text) {
		var into *float64
		switch {
		case !strings.Contains(line, label):
			continue
		case strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_count{"):
			into, found = &calls, true
		case strings.HasPrefix(line, "apiserver_admission_webhook_fail_open_count{"):
			into = &failedOpen
		default:
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, 0, false, fmt.Errorf("kube-apiserver metric line %q: %w", strings.TrimSpace(line), err)
		}
		*into += v
	}
	return calls, failedOpen, found, nil
}
