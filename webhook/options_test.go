package webhook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOptionsValidate(t *testing.T) {
	cases := map[string]struct {
		opts func(*Options)
		want []string // substrings of the error, in order; none means valid
	}{
		"defaults":               {},
		"eligible node selector": {opts: func(o *Options) { o.EligibleNodeSelector = "hub.jupyter.org/node-purpose=user" }},
		"everything wrong at once": {
			opts: func(o *Options) {
				o.Port, o.CertDir, o.PodSelector, o.AffinityWeight, o.MaxAffinityNodes = 0, "", "", 101, 0
				o.Namespaces, o.ExcludedNamespaces = []string{"Hub"}, []string{"a_b"}
				o.EligibleNodeSelector = "purpose in (user"
			},
			want: []string{"webhook.port", "webhook.certDir", "webhook.podSelector", "webhook.eligibleNodeSelector", "webhook.affinityWeight",
				"webhook.maxAffinityNodes", "webhook.namespaces[0]", "webhook.excludedNamespaces[0]"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			err := o.Validate()
			var got []string
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					got = append(got, strings.SplitN(line, ":", 2)[0])
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate error paths (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestScopeContains(t *testing.T) {
	cases := map[string]struct {
		opts func(*Options)
		want map[string]bool
	}{
		"defaults": {want: map[string]bool{"hub": true, "kube-system": false, ownNS: false}},
		"namespace list": {
			opts: func(o *Options) { o.Namespaces = []string{"hub", ownNS} },
			want: map[string]bool{"hub": true, "other": false, ownNS: false},
		},
		"list of only excluded names": {
			opts: func(o *Options) { o.Namespaces = []string{"kube-system"} },
			want: map[string]bool{"hub": false, "kube-system": false},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			sc, err := o.Scope(ownNS)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for ns := range tc.want {
				got[ns] = sc.Namespaces.Contains(ns)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("contains (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEligibleNodes(t *testing.T) {
	o := DefaultOptions()
	sel, err := o.EligibleNodes()
	if err != nil || !sel.Empty() {
		t.Errorf("default EligibleNodes() = %v, %v; want every node", sel, err)
	}
	o.EligibleNodeSelector = "hub.jupyter.org/node-purpose=user"
	sel, err = o.EligibleNodes()
	if err != nil || sel.String() != o.EligibleNodeSelector {
		t.Errorf("EligibleNodes() = %v, %v; want %s", sel, err, o.EligibleNodeSelector)
	}
	o.EligibleNodeSelector = "a in ("
	if _, err := o.EligibleNodes(); err == nil || !strings.HasPrefix(err.Error(), "webhook.eligibleNodeSelector:") {
		t.Errorf("EligibleNodes() error = %v, want one naming webhook.eligibleNodeSelector", err)
	}
}
