package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOptionsValidate(t *testing.T) {
	cases := map[string]struct {
		opts func(*Options)
		want []string // substrings of the error, in order; none means valid
	}{
		"defaults": {},
		"everything wrong at once": {
			opts: func(o *Options) {
				o.Port, o.CertDir, o.AffinityWeight, o.MaxAffinityNodes = 0, "", 101, 0
				o.BurstWindow.Duration = 0
			},
			want: []string{"webhook.port", "webhook.certDir", "webhook.affinityWeight", "webhook.burstWindow", "webhook.maxAffinityNodes"},
		},
		"burstWindow at its limit":        {opts: func(o *Options) { o.BurstWindow.Duration = MaxBurstWindow }},
		"burstWindow past its limit":      {opts: func(o *Options) { o.BurstWindow.Duration = MaxBurstWindow + time.Second }, want: []string{"webhook.burstWindow"}},
		"burstWindow negative":            {opts: func(o *Options) { o.BurstWindow.Duration = -time.Minute }, want: []string{"webhook.burstWindow"}},
		"maxAffinityNodes at its limit":   {opts: func(o *Options) { o.MaxAffinityNodes = MaxAffinityNodesLimit }},
		"maxAffinityNodes past its limit": {opts: func(o *Options) { o.MaxAffinityNodes = MaxAffinityNodesLimit + 1 }, want: []string{"webhook.maxAffinityNodes"}},
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
