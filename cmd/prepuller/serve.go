package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

func serve(args []string) int {
	opts, err := parseServeFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prepuller serve: %v\n", err)
		return 2
	}
	ctrl.SetLogger(crzap.New(crzap.UseFlagOptions(ptr(newLoggerOptions(opts.cfg.LogLevel, opts.cfg.LogFormat)))))
	log := ctrl.Log.WithName("serve")

	restConfig, err := loadRESTConfig(opts.kubeconfig)
	if err != nil {
		log.Error(err, "loading kubeconfig")
		return 1
	}
	ctx := ctrl.SetupSignalHandler()
	if err := runManager(ctx, restConfig, opts.cfg); err != nil {
		log.Error(err, "prepuller stopped with an error")
		return 1
	}
	log.Info("prepuller stopped")
	return 0
}

// runManager builds the manager with everything prepuller runs and blocks
// until ctx ends (SIGTERM or SIGINT), then shuts down gracefully.
func runManager(ctx context.Context, restConfig *rest.Config, cfg config.Config) error {
	mgr, err := newManager(restConfig, cfg)
	if err != nil {
		return err
	}
	if err := setupComponents(mgr, cfg); err != nil {
		return err
	}
	ctrl.Log.WithName("serve").Info("starting", "namespace", cfg.Namespace,
		"webhookPort", cfg.Webhook.Port, "leaderElection", cfg.LeaderElection.Enabled)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

func newManager(restConfig *rest.Config, cfg config.Config) (manager.Manager, error) {
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
		WebhookServer: crwebhook.NewServer(crwebhook.Options{
			Port:    cfg.Webhook.Port,
			CertDir: cfg.Webhook.CertDir,
		}),
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

func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func ptr[T any](v T) *T { return &v }
