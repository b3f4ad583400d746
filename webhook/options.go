package webhook

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
)

// Options configure which pods the webhook looks at and how it steers them.
// The same values are rendered into the MutatingWebhookConfiguration; the
// handler checks them again so a hand-edited configuration cannot widen its
// reach.
type Options struct {
	// Port the webhook server listens on.
	Port int `json:"port"`
	// CertDir holds tls.crt and tls.key; they are reloaded when they change.
	CertDir string `json:"certDir"`
	// PodSelector selects user pods (KubeSpawner labels them
	// component=singleuser-server).
	PodSelector string `json:"podSelector"`
	// Namespaces, when not empty, limits the webhook to these namespaces.
	Namespaces []string `json:"namespaces,omitempty"`
	// ExcludedNamespaces are never looked at. prepuller's own namespace is
	// always excluded, whatever this says.
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// AffinityWeight is the weight of the preferred node affinity term (1-100).
	AffinityWeight int32 `json:"affinityWeight"`
	// MaxAffinityNodes bounds the node names in one term, to keep pods small
	// in large clusters.
	MaxAffinityNodes int `json:"maxAffinityNodes"`
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		Port:               9443,
		CertDir:            "/tmp/k8s-webhook-server/serving-certs",
		PodSelector:        "component=singleuser-server",
		ExcludedNamespaces: []string{"kube-system"},
		AffinityWeight:     50,
		MaxAffinityNodes:   100,
	}
}

// Validate reports every invalid field, each named by its path in the
// configuration file.
func (o Options) Validate() error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("webhook.port: %d is not a TCP port (1-65535)", o.Port))
	}
	if o.CertDir == "" {
		errs = append(errs, errors.New("webhook.certDir: must not be empty"))
	}
	if _, err := labels.Parse(o.PodSelector); err != nil {
		errs = append(errs, fmt.Errorf("webhook.podSelector: %w", err))
	} else if o.PodSelector == "" {
		errs = append(errs, errors.New("webhook.podSelector: must not be empty (it would select every pod)"))
	}
	if o.AffinityWeight < 1 || o.AffinityWeight > 100 {
		errs = append(errs, fmt.Errorf("webhook.affinityWeight: %d is outside 1-100", o.AffinityWeight))
	}
	if o.MaxAffinityNodes < 1 {
		errs = append(errs, fmt.Errorf("webhook.maxAffinityNodes: %d must be at least 1", o.MaxAffinityNodes))
	}
	return errors.Join(errs...)
}
