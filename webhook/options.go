package webhook

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"prepuller.dev/prepuller/pkg/userpod"
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
	// SteeringContainer names the container whose image decides where the
	// pod is steered (KubeSpawner's main container is "notebook"); pods
	// without it are steered by their first container's image.
	SteeringContainer string `json:"steeringContainer"`
	// EligibleNodeSelector is a label selector of the nodes user pods run
	// on: only they are steered to and count in "k of n nodes hold it".
	// Empty means every node. With the JupyterHub chart's user node pool,
	// hub.jupyter.org/node-purpose=user, so core nodes (which hold the
	// hub's images but never run a user pod) do not attract steering.
	EligibleNodeSelector string `json:"eligibleNodeSelector,omitempty"`
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
		SteeringContainer:  "notebook",
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
	if _, err := labels.Parse(o.EligibleNodeSelector); err != nil {
		errs = append(errs, fmt.Errorf("webhook.eligibleNodeSelector: %w", err))
	}
	if o.AffinityWeight < 1 || o.AffinityWeight > 100 {
		errs = append(errs, fmt.Errorf("webhook.affinityWeight: %d is outside 1-100", o.AffinityWeight))
	}
	if o.MaxAffinityNodes < 1 {
		errs = append(errs, fmt.Errorf("webhook.maxAffinityNodes: %d must be at least 1", o.MaxAffinityNodes))
	}
	for i, ns := range o.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, fmt.Errorf("webhook.namespaces[%d]: %q: %s", i, ns, msg))
		}
	}
	for i, ns := range o.ExcludedNamespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, fmt.Errorf("webhook.excludedNamespaces[%d]: %q: %s", i, ns, msg))
		}
	}
	return errors.Join(errs...)
}

// ValidateFor checks what Validate cannot know: the namespace prepuller runs
// in is never looked at, so a namespace list naming only it (or only
// excluded ones) would select nothing.
func (o Options) ValidateFor(ownNamespace string) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if ns := o.namespaces(ownNamespace); ns.Only && len(ns.Include) == 0 {
		return fmt.Errorf("webhook.namespaces: %v names only prepuller's own namespace %q or excluded ones; no pod would be seen", o.Namespaces, ownNamespace)
	}
	return nil
}

// namespaces is the set of namespaces the webhook looks at, as rendered
// into the configuration and checked by the handler.
func (o Options) namespaces(ownNamespace string) userpod.Namespaces {
	return userpod.NewNamespaces(o.Namespaces, o.ExcludedNamespaces, ownNamespace)
}

// Scope is which pods prepuller learns from: the webhook's namespaces and
// pod selector, and the opt-out annotation. The handler decides with it,
// and the puller's pod watch must use the same one (puller.Deps.Scope), or
// it would learn, and pull, images of pods the webhook leaves alone.
func (o Options) Scope(ownNamespace string) (*userpod.Scope, error) {
	sel, err := labels.Parse(o.PodSelector)
	if err != nil {
		return nil, fmt.Errorf("webhook.podSelector: %w", err)
	}
	return &userpod.Scope{Namespaces: o.namespaces(ownNamespace), Selector: sel}, nil
}

// EligibleNodes parses EligibleNodeSelector for the node inventory
// (inventory.Options.EligibleNodeSelector): every node when it is empty.
func (o Options) EligibleNodes() (labels.Selector, error) {
	sel, err := labels.Parse(o.EligibleNodeSelector)
	if err != nil {
		return nil, fmt.Errorf("webhook.eligibleNodeSelector: %w", err)
	}
	return sel, nil
}
