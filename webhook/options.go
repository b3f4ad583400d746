package webhook

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/pkg/inventory"
)

// Options configure the webhook server and how it steers. Which pods are
// user pods is the configuration's userPods section (userpod.Options),
// shared with the puller.
type Options struct {
	// Host is the address the webhook server binds to; empty: every
	// address (in a pod, what the Service reaches). Tests bind loopback.
	Host string `json:"host,omitempty"`
	// Port the webhook server listens on.
	Port int `json:"port"`
	// CertDir holds tls.crt and tls.key; they are reloaded when they change.
	CertDir string `json:"certDir"`
	// ClientCAFile, when set, names a PEM file of CA certificates: the
	// webhook server then accepts only clients presenting a certificate one
	// of them signed (the API server, configured to present one; see
	// docs/security.md). Read once at start.
	ClientCAFile string `json:"clientCAFile,omitempty"`
	// AffinityWeight is the weight of the preferred node affinity term (1-100).
	AffinityWeight int32 `json:"affinityWeight"`
	// MaxAffinityNodes bounds the node names in one term, to keep pods small
	// in large clusters: past it the term names the nodes lacking the
	// image, else a window of this many holders chosen per pod.
	MaxAffinityNodes int `json:"maxAffinityNodes"`
	// SteeringContainer names the container whose image decides where the
	// pod is steered (KubeSpawner's main container is "notebook"); pods
	// without it are steered by their first container's image.
	SteeringContainer string `json:"steeringContainer"`
	// BurstWindow is how long a user pod's arrival counts towards its
	// node being busy with its image: a holder that took its share of an
	// image's recent arrivals plus two is left out of that image's terms
	// (docs/webhook.md, "Busy holders").
	BurstWindow metav1.Duration `json:"burstWindow"`

	// Deprecated: the keys below moved to userPods (userpod.Options) and
	// are read from here only so that an older configuration file still
	// loads; config.Config.Migrate moves them and says so.
	DeprecatedPodSelector          string   `json:"podSelector,omitempty"`
	DeprecatedNamespaces           []string `json:"namespaces,omitempty"`
	DeprecatedExcludedNamespaces   []string `json:"excludedNamespaces,omitempty"`
	DeprecatedEligibleNodeSelector string   `json:"eligibleNodeSelector,omitempty"`
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		Port:              9443,
		CertDir:           "/tmp/k8s-webhook-server/serving-certs",
		AffinityWeight:    50,
		MaxAffinityNodes:  100,
		SteeringContainer: "notebook",
		BurstWindow:       metav1.Duration{Duration: inventory.DefaultBurstWindow},
	}
}

// MaxBurstWindow bounds webhook.burstWindow: the longer the window, the
// more of an image's steady arrivals a holder collects in it, and past
// an hour ordinary traffic would mark holders busy (docs/webhook.md).
const MaxBurstWindow = time.Hour

// MaxAffinityNodesLimit bounds webhook.maxAffinityNodes, so that the term
// (and the patch the API server applies and stores with every user pod)
// stays bounded whatever the configuration: 100 names made a 4.8 KB patch
// in the handler benchmark, so 1,000 are about 50 KB per pod.
const MaxAffinityNodesLimit = 1000

// Validate reports every invalid field, each named by its path in the
// configuration file.
func (o Options) Validate() error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("webhook.port: %d is not a TCP port (1-65535)", o.Port))
	}
	if o.CertDir == "" {
		errs = append(errs, errors.New("webhook.certDir: must not be empty"))
	}
	if o.AffinityWeight < 1 || o.AffinityWeight > 100 {
		errs = append(errs, fmt.Errorf("webhook.affinityWeight: %d is outside 1-100", o.AffinityWeight))
	}
	if o.BurstWindow.Duration <= 0 || o.BurstWindow.Duration > MaxBurstWindow {
		errs = append(errs, fmt.Errorf("webhook.burstWindow: %s is outside (0, %s]", o.BurstWindow.Duration, MaxBurstWindow))
	}
	if o.MaxAffinityNodes < 1 || o.MaxAffinityNodes > MaxAffinityNodesLimit {
		errs = append(errs, fmt.Errorf("webhook.maxAffinityNodes: %d is outside 1-%d", o.MaxAffinityNodes, MaxAffinityNodesLimit))
	}
	return errors.Join(errs...)
}
