package userpod

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const ownNS = "prepuller"

func TestOptionsValidate(t *testing.T) {
	cases := map[string]struct {
		opts func(*Options)
		want []string // the YAML paths the error names, in order; none means valid
	}{
		"defaults":               {},
		"eligible node selector": {opts: func(o *Options) { o.EligibleNodeSelector = "hub.jupyter.org/node-purpose=user" }},
		"everything wrong at once": {
			opts: func(o *Options) {
				o.PodSelector = ""
				o.Namespaces, o.ExcludedNamespaces = []string{"Hub"}, []string{"a_b"}
				o.EligibleNodeSelector = "purpose in (user"
			},
			want: []string{"userPods.podSelector", "userPods.eligibleNodeSelector", "userPods.namespaces[0]", "userPods.excludedNamespaces[0]"},
		},
		"only our own namespace listed": {
			opts: func(o *Options) { o.Namespaces = []string{ownNS} },
			want: []string{"userPods.namespaces"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			err := o.Validate(ownNS)
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

func TestOptionsScope(t *testing.T) {
	cases := map[string]struct {
		opts          func(*Options)
		want          map[string]bool
		wantEligible  string
		wantErrPrefix string
	}{
		"defaults": {want: map[string]bool{"hub": true, "kube-system": false, ownNS: false}},
		"namespace list": {
			opts: func(o *Options) { o.Namespaces = []string{"hub", ownNS} },
			want: map[string]bool{"hub": true, "other": false, ownNS: false},
		},
		"eligible nodes": {
			opts:         func(o *Options) { o.EligibleNodeSelector = "hub.jupyter.org/node-purpose=user" },
			want:         map[string]bool{"hub": true},
			wantEligible: "hub.jupyter.org/node-purpose=user",
		},
		"bad selector": {opts: func(o *Options) { o.PodSelector = "a in (" }, wantErrPrefix: "userPods.podSelector:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			sc, err := o.Scope(ownNS)
			if tc.wantErrPrefix != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErrPrefix) {
					t.Fatalf("Scope error = %v, want %q...", err, tc.wantErrPrefix)
				}
				return
			}
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
			if sc.Selector.String() != o.PodSelector {
				t.Errorf("selector %q, want %q", sc.Selector, o.PodSelector)
			}
			if got := sc.EligibleNodes.String(); got != tc.wantEligible {
				t.Errorf("eligible nodes %q, want %q", got, tc.wantEligible)
			}
		})
	}
}

// The watch of user pods lists the scope's namespaces only when the scope
// names them; exclusions are left to Check.
func TestScopePodCache(t *testing.T) {
	cases := map[string]struct {
		opts           func(*Options)
		wantNamespaces []string // nil: every namespace
	}{
		"defaults":       {},
		"excluded only":  {opts: func(o *Options) { o.ExcludedNamespaces = []string{"x"} }},
		"namespace list": {opts: func(o *Options) { o.Namespaces = []string{"hub", "hub2"} }, wantNamespaces: []string{"hub", "hub2"}},
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
			c := sc.PodCache()
			if c.Label == nil || c.Label.String() != sc.Selector.String() {
				t.Errorf("label selector %v, want %v", c.Label, sc.Selector)
			}
			var got []string
			for n := range c.Namespaces {
				got = append(got, n)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.wantNamespaces, got); diff != "" {
				t.Errorf("namespaces (-want +got):\n%s", diff)
			}
		})
	}
}
