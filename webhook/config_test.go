package webhook

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"prepuller.dev/prepuller/pkg/userpod"
)

func TestMutatingWebhookConfiguration(t *testing.T) {
	cc := admissionregistrationv1.WebhookClientConfig{
		Service:  &admissionregistrationv1.ServiceReference{Namespace: ownNS, Name: "prepuller-webhook", Path: ptr.To(Path)},
		CABundle: []byte("ca"),
	}
	singleuser := &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server"}}
	nsSel := func(op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: op, Values: values}}}
	}
	cases := map[string]struct {
		opts               func(*userpod.Options)
		wantObjectSelector *metav1.LabelSelector
		wantNS             *metav1.LabelSelector
	}{
		"defaults: all namespaces but kube-system and our own": {
			wantObjectSelector: singleuser,
			wantNS:             nsSel(metav1.LabelSelectorOpNotIn, "kube-system", ownNS),
		},
		"namespace list: our own is dropped from it": {
			opts:               func(o *userpod.Options) { o.Namespaces = []string{"hub", ownNS, "hub2", "hub"} },
			wantObjectSelector: singleuser,
			wantNS:             nsSel(metav1.LabelSelectorOpIn, "hub", "hub2"),
		},
		"namespace list of only excluded names selects nothing": {
			opts:               func(o *userpod.Options) { o.Namespaces = []string{"kube-system"} },
			wantObjectSelector: singleuser,
			wantNS:             nsSel(metav1.LabelSelectorOpIn, ""),
		},
		"set-based selector": {
			opts: func(o *userpod.Options) { o.PodSelector = "component in (singleuser-server, user),!skip" },
			wantObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "component", Operator: metav1.LabelSelectorOpIn, Values: []string{"singleuser-server", "user"}},
				{Key: "skip", Operator: metav1.LabelSelectorOpDoesNotExist},
			}},
			wantNS: nsSel(metav1.LabelSelectorOpNotIn, "kube-system", ownNS),
		},
		"invalid selector selects nothing": {
			opts: func(o *userpod.Options) { o.PodSelector = "component in (" },
			wantObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "prepuller.dev/invalid-pod-selector", Operator: metav1.LabelSelectorOpExists}}},
			wantNS: nsSel(metav1.LabelSelectorOpNotIn, "kube-system", ownNS),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts := userpod.DefaultOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			scope := admissionregistrationv1.NamespacedScope
			want := &admissionregistrationv1.MutatingWebhookConfiguration{
				TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
				ObjectMeta: metav1.ObjectMeta{Name: "prepuller", Labels: map[string]string{"app.kubernetes.io/name": "prepuller"}},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{
					Name:         "steer.pods.prepuller.dev",
					ClientConfig: cc,
					Rules: []admissionregistrationv1.RuleWithOperations{{
						Operations: []admissionregistrationv1.OperationType{"CREATE"},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: &scope},
					}},
					FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
					MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
					NamespaceSelector:       tc.wantNS,
					ObjectSelector:          tc.wantObjectSelector,
					SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun),
					TimeoutSeconds:          ptr.To[int32](2),
					AdmissionReviewVersions: []string{"v1"},
					ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
				}},
			}
			if diff := cmp.Diff(want, MutatingWebhookConfiguration("prepuller", opts, ownNS, cc)); diff != "" {
				t.Errorf("configuration (-want +got):\n%s", diff)
			}
		})
	}
}
