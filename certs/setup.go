package certs

import (
	"errors"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Setup arranges for a serving certificate in deps.CertDir. The returned
// channel is closed once CertDir holds a valid key pair (and, in
// self-signed mode, the CA is in the MutatingWebhookConfiguration); /readyz
// should fail until then.
//
// Everything Setup adds runs on every replica: each replica must serve, so
// none may wait for leadership to get its certificate.
func Setup(mgr manager.Manager, opts Options, deps Deps) (<-chan struct{}, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid certificate options: %w", err)
	}
	if deps.Namespace == "" {
		return nil, errors.New("certificates: namespace is empty")
	}
	if deps.CertDir == "" {
		return nil, errors.New("certificates: certificate directory is empty")
	}
	reg := deps.Metrics
	if reg == nil {
		reg = metrics.Registry
	}
	if err := registerExpiry(reg, deps.CertDir); err != nil {
		return nil, err
	}
	switch opts.Mode {
	case ModeSelfSigned:
		return setupSelfSigned(mgr, opts, deps)
	default:
		// cert-manager and files: someone else writes the files; wait
		// for them.
		w := &fileWaiter{dir: deps.CertDir, ready: make(chan struct{})}
		if err := mgr.Add(w); err != nil {
			return nil, fmt.Errorf("adding certificate file waiter: %w", err)
		}
		return w.ready, nil
	}
}
