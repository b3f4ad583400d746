package app

import (
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/webhook"
)

// cacheOptions limits what the manager caches to what prepuller reads: user
// pods (by the webhook's selector) everywhere, its own puller pods and
// DaemonSet in its namespace, and nodes stripped to the images they hold.
func cacheOptions(cfg config.Config) (cache.Options, error) {
	userPods, err := labels.Parse(cfg.Webhook.PodSelector)
	if err != nil {
		return cache.Options{}, fmt.Errorf("webhook.podSelector: %w", err)
	}
	byObject := puller.CacheByObject(cfg.Puller, cfg.Namespace)
	byObject[&corev1.Pod{}] = cache.ByObject{Namespaces: map[string]cache.Config{
		cfg.Namespace:       {LabelSelector: puller.PodSelector(cfg.Puller)},
		cache.AllNamespaces: {LabelSelector: userPods},
	}}
	byObject[&corev1.Node{}] = cache.ByObject{Transform: inventory.StripNode}
	return cache.Options{ByObject: byObject}, nil
}

// Setup adds prepuller's parts to the manager. This is the one
// place that shows how an image travels:
//
//	user pod CREATE -> webhook (learn, steer from the inventory)
//	  -> recorder -> puller (learned set, ranking, expiry) -> DaemonSet
//	  -> kubelet pulls -> puller pod statuses and node.status.images
//	  -> inventory -> webhook steering
func Setup(mgr manager.Manager, cfg config.Config) error {
	// One scope for both readers of user pods: the watch must leave alone
	// exactly the pods the webhook leaves alone.
	scope, err := cfg.Webhook.Scope(cfg.Namespace)
	if err != nil {
		return err
	}
	eligible, err := cfg.Webhook.EligibleNodes()
	if err != nil {
		return err
	}
	inv := inventory.New()
	if err := inventory.SetupWithManager(mgr, inv, inventory.Options{
		PullerNamespace:      cfg.Namespace,
		PullerPodSelector:    puller.PodSelector(cfg.Puller),
		EligibleNodeSelector: eligible,
	}); err != nil {
		return fmt.Errorf("setting up node inventory: %w", err)
	}
	recorder, err := puller.Setup(mgr, cfg.Puller, puller.Deps{
		Namespace:       cfg.Namespace,
		Inventory:       inv,
		UserPodSelector: scope.Selector,
		Scope:           scope,
	})
	if err != nil {
		return fmt.Errorf("setting up puller: %w", err)
	}
	if err := webhook.Setup(mgr, cfg.Webhook, webhook.Deps{
		Namespace: cfg.Namespace,
		Recorder:  recorder,
		Inventory: inv,
	}); err != nil {
		return fmt.Errorf("setting up webhook: %w", err)
	}
	certsReady, err := certs.Setup(mgr, cfg.Certs, certs.Deps{Namespace: cfg.Namespace, CertDir: cfg.Webhook.CertDir})
	if err != nil {
		return fmt.Errorf("setting up certificates: %w", err)
	}
	if gated, ok := mgr.GetWebhookServer().(*certGatedServer); ok {
		gated.ready = certsReady
	}
	// Ready only once a valid certificate is loaded and the webhook server
	// listens with it: the Service must not send admissions to a replica
	// that would fail them (they would fail open, but unsteered).
	if err := mgr.AddReadyzCheck("certificate", chanChecker(certsReady, "no valid serving certificate yet")); err != nil {
		return fmt.Errorf("adding certificate readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding webhook readiness check: %w", err)
	}
	return nil
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
