package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

// serveOptions is everything `prepuller serve` is told.
type serveOptions struct {
	configFile string
	kubeconfig string
	// Client-side rate limit of every request to the API server; flags only,
	// like --kubeconfig, since they belong to the connection, not to what
	// prepuller does.
	kubeAPIQPS   float64
	kubeAPIBurst int
	cfg          config.Config
}

// Client rate limit defaults: those of the kubelet and kube-scheduler. Steady
// load is small (one DaemonSet write per batch, one Event per new image,
// state writes); the burst covers the start (lists for the caches, lease)
// and a batch of new images without queueing their Events for seconds. The
// API server's priority and fairness protects it whatever a client asks.
const (
	defaultKubeAPIQPS   = 50
	defaultKubeAPIBurst = 100
)

// parseServeFlags reads the config file named by --config (defaults when
// none) and then the flags, so a flag given on the command line wins over
// the file, which wins over the defaults. The result is validated.
func parseServeFlags(args []string, out io.Writer) (serveOptions, error) {
	o := serveOptions{
		configFile:   configFlag(args),
		kubeAPIQPS:   defaultKubeAPIQPS,
		kubeAPIBurst: defaultKubeAPIBurst,
		cfg:          config.Default(),
	}
	if o.configFile != "" {
		cfg, err := config.Load(o.configFile)
		if err != nil {
			return o, err
		}
		o.cfg = cfg
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &o.cfg
	// Flag defaults are the file's values, so only flags actually given
	// change anything.
	fs.StringVar(&o.configFile, "config", o.configFile, "YAML configuration file (see docs/configuration.md); flags override it")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", o.kubeAPIQPS, "requests per second to the API server, averaged")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", o.kubeAPIBurst, "requests to the API server allowed at once above --kube-api-qps")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "namespace prepuller runs in (its DaemonSet, state and leader lease live here)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json, console, or auto (json in a cluster)")
	fs.StringVar(&c.MetricsBindAddress, "metrics-bind-address", c.MetricsBindAddress, "address of the Prometheus metrics endpoint; 0 turns it off")
	fs.StringVar(&c.HealthProbeBindAddress, "health-probe-bind-address", c.HealthProbeBindAddress, "address of /healthz and /readyz")
	fs.BoolVar(&c.LeaderElection.Enabled, "leader-elect", c.LeaderElection.Enabled, "elect one replica to write the DaemonSet (the webhook serves on every replica)")
	fs.IntVar(&c.Webhook.Port, "webhook-port", c.Webhook.Port, "port of the webhook's HTTPS server")
	fs.StringVar(&c.Webhook.CertDir, "cert-dir", c.Webhook.CertDir, "directory with the webhook's tls.crt and tls.key, reloaded when they change")
	fs.StringVar(&c.Certs.Mode, "cert-mode", c.Certs.Mode, "where the serving certificate comes from: self-signed, cert-manager, or files (already in --cert-dir)")
	fs.StringVar(&c.Puller.Image, "puller-image", c.Puller.Image, "prepuller's own image, from which puller pods copy the no-op pull program")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// Checked here rather than left to client-go, which would reject only a
	// burst below 1, and only when the first client is built.
	if !(o.kubeAPIQPS > 0) || o.kubeAPIQPS > math.MaxFloat32 {
		return o, fmt.Errorf("--kube-api-qps: %v must be a positive number", o.kubeAPIQPS)
	}
	if o.kubeAPIBurst < 1 {
		return o, fmt.Errorf("--kube-api-burst: %d must be at least 1", o.kubeAPIBurst)
	}
	if err := o.cfg.Validate(); err != nil {
		return o, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return o, nil
}

// configFlag finds --config in args before the flag set exists, because the
// file supplies the other flags' defaults.
func configFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			return ""
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
