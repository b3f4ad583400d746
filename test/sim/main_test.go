package main

import "testing"

func TestWorkloadArg(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"absent":          {[]string{"-nodes", "5"}, "z2jh"},
		"equals":          {[]string{"-workload=binder"}, "binder"},
		"separate":        {[]string{"-arms", "none", "-workload", "workshop"}, "workshop"},
		"double dash":     {[]string{"--workload=binder"}, "binder"},
		"after --":        {[]string{"--", "-workload=binder"}, "z2jh"},
		"dangling":        {[]string{"-workload"}, "z2jh"},
		"other flag name": {[]string{"-workloads=binder"}, "z2jh"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := workloadArg(tc.args); got != tc.want {
				t.Errorf("workloadArg(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}
