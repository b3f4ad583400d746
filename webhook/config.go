package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/pkg/userpod"
)

// WebhookName is the name of the one webhook in the configuration.
const WebhookName = "steer.pods.prepuller.dev"

// MutatingWebhookConfiguration renders the configuration that sends user
// pod CREATEs to the webhook. The API server does the first filtering
// (objectSelector, namespaceSelector) so other pods never pay a round trip;
// the handler checks the same scope again.
//
// If the selector does not parse, the objectSelector selects nothing rather
// than everything; userpod.Options.Validate reports the error.
func MutatingWebhookConfiguration(name string, pods userpod.Options, ownNamespace string, clientConfig admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	objectSelector, err := metav1.ParseToLabelSelector(pods.PodSelector)
	if err != nil || pods.PodSelector == "" {
		objectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "prepuller.dev/invalid-pod-selector", Operator: metav1.LabelSelectorOpExists},
		}}
	}
	// Keep the rendered YAML free of "matchExpressions: []" and "values: []".
	if len(objectSelector.MatchExpressions) == 0 {
		objectSelector.MatchExpressions = nil
	}
	for i := range objectSelector.MatchExpressions {
		if len(objectSelector.MatchExpressions[i].Values) == 0 {
			objectSelector.MatchExpressions[i].Values = nil
		}
	}
	if len(objectSelector.MatchLabels) == 0 {
		objectSelector.MatchLabels = nil
	}
	sc := pods.NamespaceSet(ownNamespace)
	nsReq := metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: sc.Exclude}
	if sc.Only {
		nsReq = metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: sc.Include}
		if len(sc.Include) == 0 {
			// In needs a value; no namespace is named "".
			nsReq.Values = []string{""}
		}
	}

	failurePolicy := admissionregistrationv1.Ignore // never block a user pod
	sideEffects := admissionregistrationv1.SideEffectClassNoneOnDryRun
	reinvocation := admissionregistrationv1.IfNeededReinvocationPolicy
	matchPolicy := admissionregistrationv1.Equivalent
	scope := admissionregistrationv1.NamespacedScope
	timeout := int32(2)

	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta: metav1.TypeMeta{
			APIVersion: admissionregistrationv1.SchemeGroupVersion.String(),
			Kind:       "MutatingWebhookConfiguration",
		},
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{"app.kubernetes.io/name": "prepuller"},
		},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         WebhookName,
			ClientConfig: clientConfig,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{""},
					APIVersions: []string{"v1"},
					Resources:   []string{"pods"},
					Scope:       &scope,
				},
			}},
			FailurePolicy:           &failurePolicy,
			MatchPolicy:             &matchPolicy,
			NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{nsReq}},
			ObjectSelector:          objectSelector,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      &reinvocation,
		}},
	}
}
