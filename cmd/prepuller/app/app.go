// Package app builds prepuller's controller-runtime manager from a
// configuration: the cache, the health and readiness checks, and the parts
// (inventory, puller, webhook, certificates). cmd/prepuller parses flags and
// calls Run; integration tests call Run or NewManager directly.
package app

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

// Run builds the manager with everything prepuller runs and blocks
// until ctx ends (SIGTERM or SIGINT), then shuts down gracefully.
func Run(ctx context.Context, restConfig *rest.Config, cfg config.Config) error {
	mgr, err := NewManager(restConfig, cfg)
	if err != nil {
		return err
	}
	if err := Setup(mgr, cfg); err != nil {
		return err
	}
	log := ctrl.Log.WithName("serve")
	if !cfg.LeaderElection.Enabled {
		// Nothing can tell from inside whether other replicas run; say it
		// loudly, since two writers would fight over the DaemonSet.
		log.Info("WARNING: leader election is off; run exactly one replica, or every replica will write the puller DaemonSet and its state")
	}
	log.Info("starting", "namespace", cfg.Namespace,
		"webhookPort", cfg.Webhook.Port, "leaderElection", cfg.LeaderElection.Enabled)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// NewManager creates the manager with prepuller's cache limits, metrics,
// health probe, leader election and webhook server, but none of its parts:
// Setup adds those.
func NewManager(restConfig *rest.Config, cfg config.Config) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	cacheOpts, err := cacheOptions(cfg)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: cfg.MetricsBindAddress},
		HealthProbeBindAddress:  cfg.HealthProbeBindAddress,
		LeaderElection:          cfg.LeaderElection.Enabled,
		LeaderElectionID:        cfg.LeaderElection.ID,
		LeaderElectionNamespace: cfg.Namespace,
		// A replica that stops hands over at once instead of making the
		// next leader wait out the lease.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       ptr(15 * time.Second),
		WebhookServer: &certGatedServer{Server: crwebhook.NewServer(crwebhook.Options{
			Port:    cfg.Webhook.Port,
			CertDir: cfg.Webhook.CertDir,
		})},
		Cache: cacheOpts,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	return mgr, nil
}

func ptr[T any](v T) *T { return &v }
