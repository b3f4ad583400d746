package userpod

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Options are the configuration's userPods section: which pods are user
// pods and which nodes they run on. Both halves of prepuller read them, once
// parsed (Options.Scope): the webhook to decide what to steer, the puller's
// watch to decide what to learn, the node inventory to decide which nodes
// count.
type Options struct {
	// PodSelector selects user pods (KubeSpawner labels them
	// component=singleuser-server).
	PodSelector string `json:"podSelector"`
	// Namespaces, when not empty, limits prepuller to these namespaces.
	Namespaces []string `json:"namespaces,omitempty"`
	// ExcludedNamespaces are never looked at. prepuller's own namespace is
	// always excluded, whatever this says.
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
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
		PodSelector:        "component=singleuser-server",
		ExcludedNamespaces: []string{"kube-system"},
	}
}

// Validate reports every invalid field, each named by its path in the
// configuration file. ownNamespace is never looked at, so a namespace list
// naming only it (or only excluded ones) selects nothing: an error.
func (o Options) Validate(ownNamespace string) error {
	var errs []error
	if _, err := labels.Parse(o.PodSelector); err != nil {
		errs = append(errs, fmt.Errorf("userPods.podSelector: %w", err))
	} else if o.PodSelector == "" {
		errs = append(errs, errors.New("userPods.podSelector: must not be empty (it would select every pod)"))
	}
	if _, err := labels.Parse(o.EligibleNodeSelector); err != nil {
		errs = append(errs, fmt.Errorf("userPods.eligibleNodeSelector: %w", err))
	}
	for i, ns := range o.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, fmt.Errorf("userPods.namespaces[%d]: %q: %s", i, ns, msg))
		}
	}
	for i, ns := range o.ExcludedNamespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, fmt.Errorf("userPods.excludedNamespaces[%d]: %q: %s", i, ns, msg))
		}
	}
	if len(errs) == 0 && ownNamespace != "" {
		if ns := o.NamespaceSet(ownNamespace); ns.Only && len(ns.Include) == 0 {
			errs = append(errs, fmt.Errorf("userPods.namespaces: %v names only prepuller's own namespace %q or excluded ones; no pod would be seen", o.Namespaces, ownNamespace))
		}
	}
	return errors.Join(errs...)
}

// NamespaceSet is the set of namespaces prepuller looks at.
func (o Options) NamespaceSet(ownNamespace string) Namespaces {
	return NewNamespaces(o.Namespaces, o.ExcludedNamespaces, ownNamespace)
}

// Scope parses the options once for every reader: the webhook, the
// puller's watch and cache, and the node inventory.
func (o Options) Scope(ownNamespace string) (*Scope, error) {
	if err := o.Validate(ownNamespace); err != nil {
		return nil, err
	}
	// Validate parsed both already; these cannot fail.
	sel, _ := labels.Parse(o.PodSelector)
	nodes, _ := labels.Parse(o.EligibleNodeSelector)
	return &Scope{Namespaces: o.NamespaceSet(ownNamespace), Selector: sel, EligibleNodes: nodes}, nil
}
