// Package pullsecrets keeps named image pull secrets of the hub's
// namespace copied into prepuller's namespace. A pod can only name pull
// secrets of its own namespace, so the puller pods cannot use the hub's
// secret where it lives; without this an operator copies it by hand (the
// puller's Warning event says so).
package pullsecrets

import (
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Options are the puller.mirrorPullSecrets settings. Off when Namespace is
// empty.
type Options struct {
	// Namespace the secrets are read from: the hub's.
	Namespace string `json:"namespace,omitempty"`
	// Names of the secrets to copy, under the same names. RBAC grants
	// reading exactly these (docs/operating.md#dashboards-alerts-and-private-registries).
	Names []string `json:"names,omitempty"`
}

// Enabled reports whether secrets are mirrored.
func (o Options) Enabled() bool { return o.Namespace != "" }

// Validate checks the names, each error named by its YAML path under
// prefix (puller.mirrorPullSecrets).
func (o Options) Validate(prefix string) error {
	var errs []error
	if !o.Enabled() {
		if len(o.Names) > 0 {
			errs = append(errs, fmt.Errorf("%s.names: set without %s.namespace", prefix, prefix))
		}
		return errors.Join(errs...)
	}
	for _, e := range validation.IsDNS1123Label(o.Namespace) {
		errs = append(errs, fmt.Errorf("%s.namespace: %q: %s", prefix, o.Namespace, e))
	}
	if len(o.Names) == 0 {
		errs = append(errs, fmt.Errorf("%s.names: must name at least one secret", prefix))
	}
	for i, n := range o.Names {
		for _, e := range validation.IsDNS1123Subdomain(n) {
			errs = append(errs, fmt.Errorf("%s.names[%d]: %q: %s", prefix, i, n, e))
		}
		if slices.Index(o.Names, n) != i {
			errs = append(errs, fmt.Errorf("%s.names[%d]: %q is listed twice", prefix, i, n))
		}
	}
	return errors.Join(errs...)
}
