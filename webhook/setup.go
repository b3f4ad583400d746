package webhook

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Setup registers the handler at Path on the manager's webhook server, behind
// prepuller's HTTP layer (newReviewServer), which answers malformed requests
// without logging each. The server (and its TLS certificate from
// Options.CertDir) is the manager's; this only adds the handler.
func Setup(mgr manager.Manager, opts Options, deps Deps) error {
	h, err := NewHandler(opts, deps)
	if err != nil {
		return err // NewHandler's errors name the webhook already
	}
	reg := deps.Metrics
	if reg == nil {
		reg = metrics.Registry
	}
	srv, err := newReviewServer(h, reg, h.clock.Now)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	mgr.GetWebhookServer().Register(Path, srv)
	return nil
}
