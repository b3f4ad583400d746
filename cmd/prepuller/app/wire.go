package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/webhook"
)

// Prepuller is one replica: the manager with every part added.
type Prepuller struct {
	Manager   manager.Manager
	Inventory *inventory.Inventory
	// Recorder takes the webhook's admissions (tests may feed it directly,
	// as a forged review would).
	Recorder imageset.Recorder
}

// cacheOptions limits what every replica's shared cache holds to what the
// webhook needs: the puller's pods in prepuller's namespace and nodes
// stripped to the images they hold (the node inventory). Stripped user
// pods are in a cache of the inventory's own (inventory.SetupUserPods);
// whole user pods and the DaemonSet in the leader's (package puller).
func cacheOptions(cfg config.Config) cache.Options {
	byObject := puller.CacheByObject(cfg.Puller, cfg.Namespace)
	byObject[&corev1.Node{}] = cache.ByObject{Transform: inventory.StripNode}
	return cache.Options{ByObject: byObject}
}

// New builds prepuller. This is the one place that shows how an image
// travels, each arrow one call:
//
//	user pod CREATE -> webhook: steer from the inventory; tell the puller
//	  the pod was admitted (a candidate)                  (webhook.Setup)
//	pod exists -> leader's watch confirms it, learns its images
//	  -> learned set (ranking, expiry, quarantine)
//	  -> rendered puller DaemonSet                        (puller.Setup)
//	kubelet pulls -> puller pod statuses, node.status.images
//	  -> node inventory                        (inventory.SetupWithManager)
//	user pods bound to nodes -> busy holders      (inventory.SetupUserPods)
//	  -> webhook steering
func New(restConfig *rest.Config, cfg config.Config, seams Seams) (*Prepuller, error) {
	// The configuration's userPods section, parsed once for every reader.
	scope, err := cfg.UserPods.Scope(cfg.Namespace)
	if err != nil {
		return nil, err
	}
	// The webhook server starts only once certs.Setup has a valid key pair
	// (see certGatedServer); the gate is opened below, by this function,
	// not found again through the manager.
	var tlsOpts []func(*tls.Config)
	if cfg.Webhook.ClientCAFile != "" {
		opt, err := clientCATLSOption(cfg.Webhook.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook.clientCAFile: %w", err)
		}
		tlsOpts = append(tlsOpts, opt)
	}
	gate := &certGatedServer{Server: crwebhook.NewServer(crwebhook.Options{
		Host:    cfg.Webhook.Host,
		Port:    cfg.Webhook.Port,
		CertDir: cfg.Webhook.CertDir,
		TLSOpts: tlsOpts,
	})}
	mgr, err := newManager(restConfig, cfg, gate, seams)
	if err != nil {
		return nil, err
	}
	inv := inventory.New()
	if err := inventory.SetupWithManager(mgr, inv, inventory.Options{
		PullerNamespace:      cfg.Namespace,
		PullerPodSelector:    puller.PodSelector(cfg.Puller),
		EligibleNodeSelector: scope.EligibleNodes,
	}); err != nil {
		return nil, err
	}
	if err := inventory.SetupUserPods(mgr, inv, inventory.UserPodOptions{
		Scope:             scope,
		SteeringContainer: cfg.Webhook.SteeringContainer,
		BurstWindow:       cfg.Webhook.BurstWindow.Duration,
		Clock:             seams.Clock,
	}); err != nil {
		return nil, err
	}
	recorder, err := puller.Setup(mgr, cfg.Puller, puller.Deps{
		Namespace: cfg.Namespace,
		Scope:     scope,
		Inventory: inv,
		Clock:     seams.Clock,
		Metrics:   seams.Metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up puller: %w", err)
	}
	if err := webhook.Setup(mgr, cfg.Webhook, webhook.Deps{
		Namespace: cfg.Namespace,
		Scope:     scope,
		Recorder:  recorder,
		Inventory: inv,
		Clock:     seams.Clock,
		Metrics:   seams.Metrics,
	}); err != nil {
		return nil, err
	}
	certsReady, err := certs.Setup(mgr, cfg.Certs, certs.Deps{Namespace: cfg.Namespace, CertDir: cfg.Webhook.CertDir, Metrics: seams.Metrics})
	if err != nil {
		return nil, fmt.Errorf("setting up certificates: %w", err)
	}
	gate.ready = certsReady
	// Ready only once a valid certificate is loaded and the webhook server
	// listens with it: the Service must not send admissions to a replica
	// that would fail them (they would fail open, but unsteered).
	if err := mgr.AddReadyzCheck("certificate", chanChecker(certsReady, "no valid serving certificate yet")); err != nil {
		return nil, fmt.Errorf("adding certificate readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", gate.StartedChecker()); err != nil {
		return nil, fmt.Errorf("adding webhook readiness check: %w", err)
	}
	return &Prepuller{Manager: mgr, Inventory: inv, Recorder: recorder}, nil
}

// chanChecker passes once ch is closed.
func chanChecker(ch <-chan struct{}, notYet string) func(*http.Request) error {
	return func(*http.Request) error {
		select {
		case <-ch:
			return nil
		default:
			return errors.New(notYet)
		}
	}
}
