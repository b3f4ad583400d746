package certs

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	d := func(x time.Duration) metav1.Duration { return metav1.Duration{Duration: x} }
	cases := map[string]struct {
		mutate func(*Options)
		// wantPaths are the YAML paths the error must name, in order.
		wantPaths []string
	}{
		"defaults":            {mutate: func(*Options) {}},
		"cert-manager":        {mutate: func(o *Options) { o.Mode = ModeCertManager }},
		"files ignores times": {mutate: func(o *Options) { o.Mode = ModeFiles; o.RenewBefore = d(0) }},
		"unknown mode":        {mutate: func(o *Options) { o.Mode = "acme" }, wantPaths: []string{"certs.mode"}},
		"empty secret":        {mutate: func(o *Options) { o.SecretName = "" }, wantPaths: []string{"certs.secretName"}},
		"bad service name":    {mutate: func(o *Options) { o.ServiceName = "Not_A_Name" }, wantPaths: []string{"certs.serviceName"}},
		"bad dns name":        {mutate: func(o *Options) { o.DNSNames = []string{"localhost", "a b"} }, wantPaths: []string{"certs.dnsNames[1]"}},
		"renew longer than validity": {
			mutate:    func(o *Options) { o.RenewBefore = d(100 * 24 * time.Hour) },
			wantPaths: []string{"certs.renewBefore"},
		},
		"check interval outside renew window": {
			mutate:    func(o *Options) { o.CheckInterval = d(31 * 24 * time.Hour) },
			wantPaths: []string{"certs.checkInterval"},
		},
		"ca shorter than cert": {
			mutate:    func(o *Options) { o.CAValidity = d(24 * time.Hour) },
			wantPaths: []string{"certs.caValidity"},
		},
		"zero durations": {
			mutate:    func(o *Options) { o.CertValidity, o.RenewBefore, o.CheckInterval = d(0), d(0), d(0) },
			wantPaths: []string{"certs.certValidity", "certs.renewBefore", "certs.checkInterval"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mutate(&o)
			err := o.Validate()
			var got []string
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					got = append(got, strings.SplitN(line, ":", 2)[0])
				}
			}
			if diff := cmp.Diff(tc.wantPaths, got); diff != "" {
				t.Errorf("Validate() paths (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestDNSNames(t *testing.T) {
	o := DefaultOptions()
	o.DNSNames = []string{"localhost", "prepuller-webhook.ns.svc"}
	want := []string{"prepuller-webhook.ns.svc", "prepuller-webhook.ns.svc.cluster.local", "localhost"}
	if diff := cmp.Diff(want, o.dnsNames("ns")); diff != "" {
		t.Errorf("dnsNames (-want +got):\n%s", diff)
	}
}
