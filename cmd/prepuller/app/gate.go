package app

import (
	"context"

	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// certGatedServer starts the webhook server only once certs.Setup says a
// valid key pair is in the certificate directory. controller-runtime's
// server refuses to start without one and takes the whole manager down with
// it; with cert-manager or a mounted Secret the files may arrive after the
// process starts. Until then the replica is simply not ready.
type certGatedServer struct {
	crwebhook.Server
	// ready is set by Setup before the manager starts; nil starts at once.
	ready <-chan struct{}
}

var _ crwebhook.Server = &certGatedServer{}

func (s *certGatedServer) Start(ctx context.Context) error {
	if s.ready != nil {
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil
		}
	}
	return s.Server.Start(ctx)
}
