package userpod

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// Namespaces is the set of namespaces prepuller looks at.
type Namespaces struct {
	// Only: just Include (which may be empty: nothing). Otherwise every
	// namespace but Exclude.
	Only    bool
	Include []string // sorted
	Exclude []string // sorted; always holds prepuller's own namespace
}

// NewNamespaces: namespaces, when not empty, are the only ones looked at;
// excluded and prepuller's own namespace never are (the puller's pods must
// never wait on the webhook).
func NewNamespaces(namespaces, excluded []string, own string) Namespaces {
	skip := map[string]bool{own: true}
	for _, ns := range excluded {
		skip[ns] = true
	}
	var n Namespaces
	if len(namespaces) > 0 {
		n.Only = true
		for _, ns := range namespaces {
			if !skip[ns] && !slices.Contains(n.Include, ns) {
				n.Include = append(n.Include, ns)
			}
		}
		slices.Sort(n.Include)
		return n
	}
	for ns := range skip {
		n.Exclude = append(n.Exclude, ns)
	}
	slices.Sort(n.Exclude)
	return n
}

// Contains reports whether prepuller looks at namespace ns.
func (n Namespaces) Contains(ns string) bool {
	if n.Only {
		return slices.Contains(n.Include, ns)
	}
	return !slices.Contains(n.Exclude, ns)
}

// Scope decides which pods prepuller learns from: the webhook for each
// admission, the puller's watch for each pod in its cache. Build it with
// Options.Scope.
type Scope struct {
	Namespaces Namespaces
	// Selector selects user pods (KubeSpawner's component=singleuser-server).
	Selector labels.Selector
	// EligibleNodes selects the nodes user pods run on (every node when
	// empty): the node inventory counts only them.
	EligibleNodes labels.Selector
}

// Verdict is why a pod is, or is not, in scope.
type Verdict int

const (
	// In: learn from the pod.
	In Verdict = iota
	// OtherNamespace: the pod's namespace is not looked at.
	OtherNamespace
	// NotSelected: the pod is not a user pod.
	NotSelected
	// OptedOut: the pod carries AnnotationSkip "true".
	OptedOut
)

// Check decides about one pod, namespace first (the webhook can answer that
// before decoding the pod), then labels, then the opt-out.
func (s *Scope) Check(namespace string, podLabels, annotations map[string]string) Verdict {
	switch {
	case !s.Namespaces.Contains(namespace):
		return OtherNamespace
	case !s.Selector.Matches(labels.Set(podLabels)):
		return NotSelected
	case Skipped(annotations):
		return OptedOut
	}
	return In
}

// PodCache is the cache configuration that watches the scope's user pods:
// the selector, and the namespaces when the scope lists them (an excluded
// namespace is filtered by Check, since a watch cannot exclude one).
func (s *Scope) PodCache() cache.ByObject {
	c := cache.ByObject{Label: s.Selector}
	if s.Namespaces.Only {
		c.Namespaces = map[string]cache.Config{}
		for _, n := range s.Namespaces.Include {
			c.Namespaces[n] = cache.Config{}
		}
	}
	return c
}

// CheckPod is Check for a Pod object.
func (s *Scope) CheckPod(p *corev1.Pod) Verdict {
	return s.Check(p.Namespace, p.Labels, p.Annotations)
}
