package install

import (
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const serviceAccount = "system:serviceaccount:prepuller:prepuller"

// access is one request prepuller's ServiceAccount may or may not make.
type access struct {
	verb, group, resource, subresource, namespace, name string
}

// TestRBAC installs the self-signed overlay (the superset of permissions)
// and asks the API server's RBAC authorizer, for prepuller's ServiceAccount,
// about every request prepuller makes and about those it must not.
func TestRBAC(t *testing.T) {
	c, w := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	apply(ctx, t, c, w, renderKustomize(t, "self-signed"), false)

	allowed := map[string]access{
		"read user pods":                {verb: "list", resource: "pods"},
		"watch user pods":               {verb: "watch", resource: "pods"},
		"get a user pod":                {verb: "get", resource: "pods", namespace: "jhub", name: "jupyter-ada"},
		"list nodes":                    {verb: "list", resource: "nodes"},
		"watch nodes":                   {verb: "watch", resource: "nodes"},
		"get a node":                    {verb: "get", resource: "nodes", name: "node-1"},
		"create events for user pods":   {verb: "create", resource: "events", namespace: "jhub"},
		"patch events (events.k8s.io)":  {verb: "patch", group: "events.k8s.io", resource: "events", namespace: "prepuller"},
		"create the puller DaemonSet":   {verb: "create", group: "apps", resource: "daemonsets", namespace: "prepuller"},
		"update the puller DaemonSet":   {verb: "update", group: "apps", resource: "daemonsets", namespace: "prepuller", name: "prepuller-puller"},
		"delete the puller DaemonSet":   {verb: "delete", group: "apps", resource: "daemonsets", namespace: "prepuller", name: "prepuller-puller"},
		"watch DaemonSets at home":      {verb: "watch", group: "apps", resource: "daemonsets", namespace: "prepuller"},
		"list DaemonSets at home":       {verb: "list", group: "apps", resource: "daemonsets", namespace: "prepuller"},
		"get the puller DaemonSet":      {verb: "get", group: "apps", resource: "daemonsets", namespace: "prepuller", name: "prepuller-puller"},
		"create the state ConfigMap":    {verb: "create", resource: "configmaps", namespace: "prepuller"},
		"get the state ConfigMap":       {verb: "get", resource: "configmaps", namespace: "prepuller", name: "prepuller-puller-state"},
		"update the state ConfigMap":    {verb: "update", resource: "configmaps", namespace: "prepuller", name: "prepuller-puller-state"},
		"patch the state ConfigMap":     {verb: "patch", resource: "configmaps", namespace: "prepuller", name: "prepuller-puller-state"},
		"get the leader Lease":          {verb: "get", group: "coordination.k8s.io", resource: "leases", namespace: "prepuller", name: "prepuller-leader"},
		"create the leader Lease":       {verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: "prepuller"},
		"renew the leader Lease":        {verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "prepuller", name: "prepuller-leader"},
		"get its webhook configuration": {verb: "get", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", name: "prepuller"},
		"inject the CA":                 {verb: "update", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", name: "prepuller"},
		"watch webhook configurations":  {verb: "watch", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations"},
		"get its Secret":                {verb: "get", resource: "secrets", namespace: "prepuller", name: "prepuller-webhook-tls"},
		"update its Secret":             {verb: "update", resource: "secrets", namespace: "prepuller", name: "prepuller-webhook-tls"},
		"watch Secrets at home":         {verb: "watch", resource: "secrets", namespace: "prepuller"},
		"patch a placed puller pod":     {verb: "patch", resource: "pods", namespace: "prepuller", name: "prepuller-puller-placed-x1"},
		"delete a placed puller pod":    {verb: "delete", resource: "pods", namespace: "prepuller", name: "prepuller-puller-placed-x1"},
	}
	refused := map[string]access{
		"Secrets elsewhere":                 {verb: "get", resource: "secrets", namespace: "jhub", name: "hub"},
		"Secrets cluster-wide":              {verb: "list", resource: "secrets"},
		"Secrets in kube-system":            {verb: "watch", resource: "secrets", namespace: "kube-system"},
		"creating Secrets":                  {verb: "create", resource: "secrets", namespace: "prepuller"},
		"deleting its Secret":               {verb: "delete", resource: "secrets", namespace: "prepuller", name: "prepuller-webhook-tls"},
		"another Secret at home":            {verb: "update", resource: "secrets", namespace: "prepuller", name: "pull-secret"},
		"updating nodes":                    {verb: "update", resource: "nodes", name: "node-1"},
		"patching nodes":                    {verb: "patch", resource: "nodes", name: "node-1"},
		"patching node status":              {verb: "patch", resource: "nodes", subresource: "status", name: "node-1"},
		"deleting nodes":                    {verb: "delete", resource: "nodes", name: "node-1"},
		"DaemonSets in user namespaces":     {verb: "create", group: "apps", resource: "daemonsets", namespace: "jhub"},
		"DaemonSets in kube-system":         {verb: "update", group: "apps", resource: "daemonsets", namespace: "kube-system", name: "kube-proxy"},
		"DaemonSets cluster-wide":           {verb: "list", group: "apps", resource: "daemonsets"},
		"ConfigMaps elsewhere":              {verb: "update", resource: "configmaps", namespace: "jhub", name: "hub"},
		"deleting ConfigMaps":               {verb: "delete", resource: "configmaps", namespace: "prepuller", name: "prepuller-state"},
		"Leases elsewhere":                  {verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system", name: "kube-scheduler"},
		"creating pods":                     {verb: "create", resource: "pods", namespace: "jhub"},
		"deleting pods":                     {verb: "delete", resource: "pods", namespace: "jhub", name: "jupyter-ada"},
		"patching user pods":                {verb: "patch", resource: "pods", namespace: "jhub", name: "jupyter-ada"},
		"creating pods at home":             {verb: "create", resource: "pods", namespace: "prepuller"},
		"evicting pods":                     {verb: "create", resource: "pods", subresource: "eviction", namespace: "jhub", name: "jupyter-ada"},
		"other webhook configurations":      {verb: "update", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", name: "istio-sidecar-injector"},
		"deleting its webhook config":       {verb: "delete", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", name: "prepuller"},
		"creating webhook configurations":   {verb: "create", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations"},
		"validating webhook configurations": {verb: "update", group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations", name: "prepuller"},
		"binding roles":                     {verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"},
		"Deployments":                       {verb: "update", group: "apps", resource: "deployments", namespace: "prepuller", name: "prepuller"},
	}
	for want, set := range map[bool]map[string]access{true: allowed, false: refused} {
		for name, a := range set {
			t.Run(name, func(t *testing.T) {
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   serviceAccount,
					Groups: []string{"system:serviceaccounts", "system:serviceaccounts:prepuller", "system:authenticated"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource,
						Namespace: a.namespace, Name: a.name,
					},
				}}
				if err := c.Create(ctx, sar); err != nil {
					t.Fatal(err)
				}
				if sar.Status.Allowed != want {
					t.Errorf("%s %+v: allowed = %v, want %v (%s)", serviceAccount, a, sar.Status.Allowed, want, sar.Status.Reason)
				}
			})
		}
	}
}

// TestRBACImpersonated makes real requests as prepuller's ServiceAccount,
// through the API server's impersonation.
func TestRBACImpersonated(t *testing.T) {
	admin, w := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	apply(ctx, t, admin, w, renderKustomize(t, "self-signed"), false)
	for _, ns := range []string{"jhub"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hub", Namespace: "jhub"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cfg := controlPlane(t)
	cfg.Impersonate.UserName = serviceAccount
	cfg.Impersonate.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:prepuller", "system:authenticated"}
	sa, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}

	ok := map[string]func() error{
		"list pods in all namespaces": func() error { return sa.List(ctx, &corev1.PodList{}) },
		"list nodes":                  func() error { return sa.List(ctx, &corev1.NodeList{}) },
		"read and write its Secret": func() error {
			s := &corev1.Secret{}
			if err := sa.Get(ctx, client.ObjectKey{Namespace: "prepuller", Name: "prepuller-webhook-tls"}, s); err != nil {
				return err
			}
			s.Data = map[string][]byte{"probe": []byte("x")}
			return sa.Update(ctx, s)
		},
		"update its webhook configuration": func() error {
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := sa.Get(ctx, client.ObjectKey{Name: "prepuller"}, m); err != nil {
				return err
			}
			m.Webhooks[0].ClientConfig.CABundle = nil
			return sa.Update(ctx, m)
		},
		"list Secrets at home by name": func() error {
			return sa.List(ctx, &corev1.SecretList{}, client.InNamespace("prepuller"), client.MatchingFields{"metadata.name": "prepuller-webhook-tls"})
		},
	}
	forbidden := map[string]func() error{
		"read a Secret elsewhere": func() error {
			return sa.Get(ctx, client.ObjectKey{Namespace: "jhub", Name: "hub"}, &corev1.Secret{})
		},
		"list Secrets cluster-wide": func() error { return sa.List(ctx, &corev1.SecretList{}) },
		"label a node": func() error {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
			return sa.Create(ctx, n)
		},
		"create a Secret": func() error {
			return sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "prepuller"}})
		},
		"delete the webhook configuration": func() error {
			return sa.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "prepuller"}})
		},
	}
	for name, call := range ok {
		t.Run("allowed/"+name, func(t *testing.T) {
			if err := call(); err != nil {
				t.Errorf("as %s: %v", serviceAccount, err)
			}
		})
	}
	for name, call := range forbidden {
		t.Run("forbidden/"+name, func(t *testing.T) {
			if err := call(); !apierrors.IsForbidden(err) {
				t.Errorf("as %s: error = %v, want Forbidden", serviceAccount, err)
			}
		})
	}
}
