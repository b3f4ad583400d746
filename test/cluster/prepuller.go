package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/cmd/prepuller/app"
	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/webhook"
)

// PrepullerWebhooks registers prepuller's MutatingWebhookConfiguration, as
// the webhook package renders it for the user pods opts select, with envtest: envtest makes a CA
// and a serving certificate for 127.0.0.1, puts the CA in caBundle and points
// the configuration at a local port. Pass it as Options.Webhooks.
func PrepullerWebhooks(namespace string, opts userpod.Options) envtest.WebhookInstallOptions {
	path := webhook.Path
	mwc := webhook.MutatingWebhookConfiguration("prepuller", opts, namespace, admissionregistrationv1.WebhookClientConfig{
		Service: &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: "prepuller-webhook", Path: &path},
	})
	return envtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{mwc},
		LocalServingHost: "127.0.0.1",
	}
}

// PrepullerConfig is the default configuration with what it takes to serve
// the webhook PrepullerWebhooks registered: its port and the certificate
// envtest made (certs.mode files), metrics off, and probes on a free port.
func (c *Cluster) PrepullerConfig(namespace string) (config.Config, error) {
	hooks := c.Env.WebhookInstallOptions
	if hooks.LocalServingPort == 0 {
		return config.Config{}, fmt.Errorf("the cluster was started without Options.Webhooks (see PrepullerWebhooks)")
	}
	probe, err := FreeAddr()
	if err != nil {
		return config.Config{}, err
	}
	cfg := config.Default()
	cfg.Namespace = namespace
	cfg.MetricsBindAddress = "0"
	cfg.HealthProbeBindAddress = probe
	cfg.Webhook.Host = "127.0.0.1" // every server a test starts listens on loopback
	cfg.Webhook.Port = hooks.LocalServingPort
	cfg.Webhook.CertDir = hooks.LocalServingCertDir
	cfg.Certs.Mode = certs.ModeFiles
	return cfg, nil
}

// RunPrepuller runs the whole of prepuller (app.Run) in this process until
// ctx ends, and returns once /readyz passes. The channel receives app.Run's
// result.
func RunPrepuller(ctx context.Context, restConfig *rest.Config, cfg config.Config) (<-chan error, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("prepuller configuration: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, restConfig, cfg) }()
	if err := WaitReady(ctx, cfg.HealthProbeBindAddress, done); err != nil {
		return nil, err
	}
	return done, nil
}

// WaitReady polls http://addr/readyz until it answers 200. A value on
// stopped (the server ended) fails the wait at once.
func WaitReady(ctx context.Context, addr string, stopped <-chan error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-stopped:
			return false, fmt.Errorf("prepuller stopped before it was ready: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			last = err
			return false, nil
		}
		resp.Body.Close()
		last = fmt.Errorf("/readyz answered %s", resp.Status)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for prepuller's /readyz: %w (last: %v)", err, last)
	}
	return nil
}

// FreeAddr returns a loopback address with a port free at the time of the
// call.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
