// Package config is prepuller's configuration: the YAML file read by
// `prepuller serve --config`, its defaults, and its validation. Each part is
// owned by the package that uses it (webhook.Options, puller.Options); this
// package only composes them and adds the process-level settings.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"

	"sigs.k8s.io/yaml"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/webhook"
)

// Config is the whole configuration file. Field names are the YAML keys.
type Config struct {
	// Namespace prepuller runs in; its DaemonSet, state and lease live here.
	// Defaults to $POD_NAMESPACE, else "prepuller".
	Namespace string `json:"namespace"`
	// LogLevel: debug, info, warn or error.
	LogLevel string `json:"logLevel"`
	// LogFormat: json, console, or auto (json in a cluster, console elsewhere).
	LogFormat string `json:"logFormat"`
	// MetricsBindAddress serves Prometheus metrics; "0" turns them off.
	MetricsBindAddress string `json:"metricsBindAddress"`
	// HealthProbeBindAddress serves /healthz and /readyz.
	HealthProbeBindAddress string `json:"healthProbeBindAddress"`
	// LeaderElection elects the one replica that writes (the puller). The
	// webhook serves on every replica.
	LeaderElection LeaderElection `json:"leaderElection"`

	// UserPods is which pods are user pods and where they run: read by the
	// webhook, the puller and the node inventory alike.
	UserPods userpod.Options `json:"userPods"`
	Webhook  webhook.Options `json:"webhook"`
	Puller   puller.Options  `json:"puller"`
	Certs    certs.Options   `json:"certs"`

	// Deprecations are notices about keys that still load but moved; the
	// caller logs them. Not part of the file.
	Deprecations []string `json:"-"`
}

// LeaderElection settings.
type LeaderElection struct {
	Enabled bool   `json:"enabled"`
	ID      string `json:"id"`
}

// Default returns the documented defaults.
func Default() Config {
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "prepuller"
	}
	return Config{
		Namespace:              ns,
		LogLevel:               "info",
		LogFormat:              "auto",
		MetricsBindAddress:     ":8080",
		HealthProbeBindAddress: ":8081",
		LeaderElection:         LeaderElection{Enabled: true, ID: "prepuller-leader"},
		UserPods:               userpod.DefaultOptions(),
		Webhook:                webhook.DefaultOptions(),
		Puller:                 puller.DefaultOptions(),
		Certs:                  certs.DefaultOptions(),
	}
}

// Load reads a YAML file over the defaults. Unknown keys are errors, so a
// typo does not silently leave a default in place.
func Load(path string) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("reading config file: %w", err)
	}
	if err := Parse(data, &cfg); err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML into cfg, keeping the values cfg already has for keys
// the YAML does not set.
func Parse(data []byte, cfg *Config) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return err
	}
	return cfg.migrate()
}

// migrate moves keys an older file has under webhook to userPods, where
// they live now, and remembers a deprecation notice for each. A key set in
// both places with different values is an error: neither can win silently.
func (c *Config) migrate() error {
	var errs []error
	w, u, def := &c.Webhook, &c.UserPods, userpod.DefaultOptions()
	moveKey(c, &errs, "podSelector", &w.DeprecatedPodSelector, &u.PodSelector, def.PodSelector)
	moveKey(c, &errs, "eligibleNodeSelector", &w.DeprecatedEligibleNodeSelector, &u.EligibleNodeSelector, def.EligibleNodeSelector)
	moveKey(c, &errs, "namespaces", &w.DeprecatedNamespaces, &u.Namespaces, def.Namespaces)
	moveKey(c, &errs, "excludedNamespaces", &w.DeprecatedExcludedNamespaces, &u.ExcludedNamespaces, def.ExcludedNamespaces)
	return errors.Join(errs...)
}

// moveKey moves one deprecated webhook.<key> to userPods.<key>: allowed
// when userPods.<key> still has its default or the same value.
func moveKey[T any](c *Config, errs *[]error, key string, old, cur *T, def T) {
	var zero T
	if reflect.DeepEqual(*old, zero) {
		return
	}
	if !reflect.DeepEqual(*cur, def) && !reflect.DeepEqual(*cur, *old) {
		*errs = append(*errs, fmt.Errorf("webhook.%s: %v conflicts with userPods.%s %v; keep only userPods.%s", key, *old, key, *cur, key))
		return
	}
	*cur, *old = *old, zero
	c.Deprecations = append(c.Deprecations, fmt.Sprintf("webhook.%s is deprecated; it is read as userPods.%s", key, key))
}

// Validate reports every invalid field, each named by its YAML path.
func (c Config) Validate() error {
	var errs []error
	if c.Namespace == "" {
		errs = append(errs, errors.New("namespace: must not be empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logLevel: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("logFormat: %q is not one of auto, json, console", c.LogFormat))
	}
	if c.HealthProbeBindAddress == "" {
		errs = append(errs, errors.New("healthProbeBindAddress: must not be empty (readiness is how the webhook tells it can serve)"))
	}
	if c.LeaderElection.Enabled && c.LeaderElection.ID == "" {
		errs = append(errs, errors.New("leaderElection.id: must not be empty when leader election is enabled"))
	}
	if err := c.UserPods.Validate(c.Namespace); err != nil {
		errs = append(errs, err)
	}
	if err := c.Webhook.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Puller.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Certs.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
