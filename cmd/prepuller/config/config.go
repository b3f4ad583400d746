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

	"sigs.k8s.io/yaml"

	"prepuller.dev/prepuller/certs"
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

	Webhook webhook.Options `json:"webhook"`
	Puller  puller.Options  `json:"puller"`
	Certs   certs.Options   `json:"certs"`
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
	return nil
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
	if err := c.Webhook.ValidateFor(c.Namespace); err != nil {
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
