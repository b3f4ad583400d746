// Package webhook_test runs the admission webhook behind a real
// kube-apiserver (envtest): the API server calls it over TLS through a
// MutatingWebhookConfiguration rendered by webhook.MutatingWebhookConfiguration.
package webhook_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

const (
	ownNS = "prepuller"
	hubNS = "hub"
)

var (
	cfg      *rest.Config
	k8s      client.Client
	webhooks envtest.WebhookInstallOptions // serving host, port and certificates envtest made
)

// testOptions are the webhook options used for both the configuration the
// API server gets and the handler.
func testOptions() webhook.Options {
	o := webhook.DefaultOptions()
	o.MaxAffinityNodes = 2
	return o
}

func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	if _, err := cluster.AssetsDir(); err != nil {
		fmt.Fprintf(os.Stderr, "webhook integration tests need kube-apiserver and etcd: %v\n"+
			"run make test, or test/controlplane/build.sh, then KUBEBUILDER_ASSETS=$(test/controlplane/build.sh --print-dir)\n", err)
		os.Exit(1)
	}
	// envtest rewrites a service reference with a path into a URL to its
	// local webhook port, and fills in its CA.
	mwc := webhook.MutatingWebhookConfiguration("prepuller-test", userpod.DefaultOptions(), ownNS,
		admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: ownNS, Name: "prepuller-webhook", Path: ptr.To(strings.TrimPrefix(webhook.Path, "/")),
		}})
	c, err := cluster.Start(context.Background(), cluster.Options{
		Webhooks: envtest.WebhookInstallOptions{MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{mwc, rewriterConfiguration()}},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting kube-apiserver and etcd: %v\n", err)
		os.Exit(1)
	}
	cfg, webhooks = c.Config, c.Env.WebhookInstallOptions
	k8s, err = client.New(cfg, client.Options{})
	if err != nil {
		_ = c.Stop()
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping control plane: %v\n", err)
	}
	os.Exit(code)
}

// rewriterPath serves a test-only webhook that, after prepuller's (its
// configuration's name sorts later), changes the first container's image
// to the value of annotation rewriteAnnotation. The API server then
// reinvokes prepuller's webhook (reinvocationPolicy IfNeeded).
const (
	rewriterPath       = "/test-rewrite-image"
	rewriteLabel       = "test.prepuller.dev/rewrite"
	rewriteAnnotation  = "test.prepuller.dev/rewrite-to"
	rewriterConfigName = "zz-test-rewriter"
)

func rewriterConfiguration() *admissionregistrationv1.MutatingWebhookConfiguration {
	scope := admissionregistrationv1.NamespacedScope
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: rewriterConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "rewrite.test.prepuller.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: ownNS, Name: "rewriter", Path: ptr.To(strings.TrimPrefix(rewriterPath, "/")),
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: &scope},
			}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{rewriteLabel: "true"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
}
