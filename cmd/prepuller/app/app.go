// Package app builds prepuller's controller-runtime manager from a
// configuration: the cache, the health and readiness checks, and the parts
// (inventory, puller, webhook, certificates). cmd/prepuller parses flags and
// calls Run; integration tests call New with their seams (Seams).
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

// Run builds prepuller and blocks until ctx ends (SIGTERM or SIGINT), then
// shuts down gracefully.
func Run(ctx context.Context, restConfig *rest.Config, cfg config.Config) error {
	p, err := New(restConfig, cfg, Seams{})
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("serve")
	for _, d := range cfg.Deprecations {
		log.Info("Deprecated configuration key; move it", "notice", d)
	}
	if !cfg.LeaderElection.Enabled {
		// Nothing can tell from inside whether other replicas run; say it
		// loudly, since two writers would fight over the DaemonSet.
		log.Error(nil, "Leader election is off: run exactly one replica, or every replica will write the puller DaemonSet and its state")
	}
	log.Info("Starting", "namespace", cfg.Namespace,
		"webhookPort", cfg.Webhook.Port, "leaderElection", cfg.LeaderElection.Enabled)
	if err := p.Manager.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// Seams are what a test may replace in the production wiring; the zero
// value is production.
type Seams struct {
	// Clock drives every timer of the puller and the webhook's times.
	Clock clock.PassiveClock
	// Metrics is where prepuller's own series are registered (default:
	// controller-runtime's registry, which the manager serves).
	Metrics prometheus.Registerer
	// Manager edits the manager's options before it is built (e.g.
	// shorter leases).
	Manager func(*ctrl.Options)
}

// newManager creates the manager with prepuller's cache limits, metrics,
// health probe, leader election and the certificate-gated webhook server,
// but none of its parts.
func newManager(restConfig *rest.Config, cfg config.Config, server crwebhook.Server, seams Seams) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	opts := ctrl.Options{
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
		WebhookServer:                 server,
		Cache:                         cacheOptions(cfg),
	}
	if seams.Manager != nil {
		seams.Manager(&opts)
	}
	mgr, err := ctrl.NewManager(restConfig, opts)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	return mgr, nil
}

func ptr[T any](v T) *T { return &v }
