// Package certs provides the webhook's serving certificate: either prepuller
// keeps its own CA and serving certificate in a Secret (self-signed mode), or
// something else (cert-manager, an operator, a human) puts a key pair in the
// certificate directory and prepuller only waits for it.
package certs

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The certificate modes.
const (
	// ModeSelfSigned: prepuller generates a CA and a serving certificate,
	// stores them in Options.SecretName, writes them to the certificate
	// directory and injects the CA into the MutatingWebhookConfiguration.
	ModeSelfSigned = "self-signed"
	// ModeCertManager: cert-manager issues the certificate into the Secret
	// (mounted at the certificate directory) and its CA injector fills the
	// caBundle.
	ModeCertManager = "cert-manager"
	// ModeFiles: someone else provides tls.crt and tls.key in the
	// certificate directory and the caBundle.
	ModeFiles = "files"
)

// Options configure where the webhook's serving certificate comes from.
type Options struct {
	// Mode is one of self-signed (default), cert-manager or files.
	Mode string `json:"mode"`
	// SecretName holds the key pair (and, in self-signed mode, the CA).
	SecretName string `json:"secretName"`
	// ServiceName is the webhook Service; the certificate is issued for
	// <serviceName>.<namespace>.svc, the name the API server dials.
	ServiceName string `json:"serviceName"`
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle
	// is kept equal to the CA in self-signed mode.
	WebhookConfigName string `json:"webhookConfigName"`
	// DNSNames are extra names for the serving certificate (self-signed
	// mode), e.g. localhost for a webhook reached by URL.
	DNSNames []string `json:"dnsNames,omitempty"`
	// CAValidity and CertValidity are the lifetimes of the generated CA and
	// serving certificate (self-signed mode; in cert-manager mode
	// CertValidity becomes the Certificate's duration).
	CAValidity   metav1.Duration `json:"caValidity"`
	CertValidity metav1.Duration `json:"certValidity"`
	// RenewBefore: a certificate that expires within this time is replaced.
	RenewBefore metav1.Duration `json:"renewBefore"`
	// CheckInterval is how often expiry is checked, besides every change of
	// the Secret or the MutatingWebhookConfiguration.
	CheckInterval metav1.Duration `json:"checkInterval"`
}

// Names of the objects the cert-manager overlay and CertManagerObjects use.
const (
	IssuerName      = "prepuller-selfsigned"
	CertificateName = "prepuller-webhook"
)

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		Mode:              ModeSelfSigned,
		SecretName:        "prepuller-webhook-tls",
		ServiceName:       "prepuller-webhook",
		WebhookConfigName: "prepuller",
		// A long-lived CA and a short-lived serving certificate: the serving
		// certificate rotates under the same CA, which needs no caBundle
		// change and so cannot fail an admission.
		CAValidity:    metav1.Duration{Duration: 10 * 365 * 24 * time.Hour},
		CertValidity:  metav1.Duration{Duration: 90 * 24 * time.Hour},
		RenewBefore:   metav1.Duration{Duration: 30 * 24 * time.Hour},
		CheckInterval: metav1.Duration{Duration: time.Hour},
	}
}

// Validate reports every invalid field, each named by its path in the
// configuration file.
func (o Options) Validate() error {
	var errs []error
	switch o.Mode {
	case ModeSelfSigned, ModeCertManager, ModeFiles:
	default:
		errs = append(errs, fmt.Errorf("certs.mode: %q is not one of %s, %s, %s", o.Mode, ModeSelfSigned, ModeCertManager, ModeFiles))
	}
	for _, f := range []struct{ path, name string }{
		{"certs.secretName", o.SecretName},
		{"certs.serviceName", o.ServiceName},
		{"certs.webhookConfigName", o.WebhookConfigName},
	} {
		path, name := f.path, f.name
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", path))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			errs = append(errs, fmt.Errorf("%s: %q: %s", path, name, msg))
		}
	}
	for i, n := range o.DNSNames {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			errs = append(errs, fmt.Errorf("certs.dnsNames[%d]: %q: %s", i, n, msg))
		}
	}
	if o.Mode == ModeSelfSigned || o.Mode == ModeCertManager {
		errs = append(errs, o.validateLifetimes()...)
	}
	return errors.Join(errs...)
}

func (o Options) validateLifetimes() []error {
	var errs []error
	if o.CertValidity.Duration <= 0 {
		errs = append(errs, fmt.Errorf("certs.certValidity: %s must be positive", o.CertValidity.Duration))
	}
	if o.RenewBefore.Duration <= 0 {
		errs = append(errs, fmt.Errorf("certs.renewBefore: %s must be positive", o.RenewBefore.Duration))
	} else if o.RenewBefore.Duration >= o.CertValidity.Duration {
		// Renewing when less than RenewBefore is left of a certificate that
		// lives no longer than that would renew forever.
		errs = append(errs, fmt.Errorf("certs.renewBefore: %s must be shorter than certs.certValidity (%s)", o.RenewBefore.Duration, o.CertValidity.Duration))
	}
	if o.Mode != ModeSelfSigned {
		return errs
	}
	if o.CAValidity.Duration <= o.RenewBefore.Duration || o.CAValidity.Duration < o.CertValidity.Duration {
		errs = append(errs, fmt.Errorf("certs.caValidity: %s must be longer than certs.renewBefore and certs.certValidity", o.CAValidity.Duration))
	}
	if o.CheckInterval.Duration <= 0 {
		errs = append(errs, fmt.Errorf("certs.checkInterval: %s must be positive", o.CheckInterval.Duration))
	} else if o.CheckInterval.Duration >= o.RenewBefore.Duration {
		// A check must fall inside the renewal window, or a certificate
		// could expire between two checks.
		errs = append(errs, fmt.Errorf("certs.checkInterval: %s must be shorter than certs.renewBefore (%s)", o.CheckInterval.Duration, o.RenewBefore.Duration))
	}
	return errs
}

// Deps are what Setup needs from the process.
type Deps struct {
	// Namespace prepuller runs in (the Secret's and the Service's).
	Namespace string
	// CertDir is the webhook server's certificate directory (tls.crt and
	// tls.key).
	CertDir string
	// Metrics is where the certificate expiry series goes; nil means
	// controller-runtime's registry, which the manager serves.
	Metrics prometheus.Registerer
}

// ServiceDNSName is the name the API server dials for the webhook Service.
func (o Options) ServiceDNSName(namespace string) string {
	return fmt.Sprintf("%s.%s.svc", o.ServiceName, namespace)
}

// dnsNames lists every name the serving certificate is issued for.
func (o Options) dnsNames(namespace string) []string {
	names := []string{
		o.ServiceDNSName(namespace),
		fmt.Sprintf("%s.%s.svc.cluster.local", o.ServiceName, namespace),
	}
	for _, n := range o.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
