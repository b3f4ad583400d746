package certs

import (
	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CertManagerObjects returns the Issuer and Certificate of the cert-manager
// install: a self-signing Issuer (a webhook's certificate only needs to be
// trusted by the API server, which gets the CA through the caBundle) and a
// Certificate for the webhook Service, stored in opts.SecretName. The
// manifests' cert-manager overlay must render exactly these; a test checks
// it.
func CertManagerObjects(namespace string, opts Options) (*cmv1.Issuer, *cmv1.Certificate) {
	issuer := &cmv1.Issuer{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.IssuerKind},
		ObjectMeta: metav1.ObjectMeta{Name: IssuerName, Namespace: namespace},
		Spec: cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{
			SelfSigned: &cmv1.SelfSignedIssuer{},
		}},
	}
	cert := &cmv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{Name: CertificateName, Namespace: namespace},
		Spec: cmv1.CertificateSpec{
			CommonName:  opts.ServiceDNSName(namespace),
			DNSNames:    opts.dnsNames(namespace),
			SecretName:  opts.SecretName,
			Duration:    &metav1.Duration{Duration: opts.CertValidity.Duration},
			RenewBefore: &metav1.Duration{Duration: opts.RenewBefore.Duration},
			IssuerRef:   cmmeta.IssuerReference{Kind: cmv1.IssuerKind, Name: IssuerName},
			Usages:      []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageServerAuth},
			PrivateKey: &cmv1.CertificatePrivateKey{
				Algorithm:      cmv1.ECDSAKeyAlgorithm,
				RotationPolicy: cmv1.RotationPolicyAlways,
			},
		},
	}
	return issuer, cert
}

// InjectAnnotations are the annotations that make cert-manager's CA
// injector fill the caBundle of the MutatingWebhookConfiguration from the
// Certificate of CertManagerObjects.
func InjectAnnotations(namespace string) map[string]string {
	return map[string]string{cmv1.WantInjectAnnotation: namespace + "/" + CertificateName}
}
