package webhook

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Setup registers the handler at Path on the manager's webhook server. The
// server (and its TLS certificate from Options.CertDir) is the manager's;
// this only adds the handler.
func Setup(mgr manager.Manager, opts Options, deps Deps) error {
	h, err := NewHandler(opts, deps)
	if err != nil {
		return err // NewHandler's errors name the webhook already
	}
	mgr.GetWebhookServer().Register(Path, &webhook.Admission{Handler: h})
	return nil
}
