package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllowed(t *testing.T) {
	images := []string{
		"docker.io/jupyter/scipy-notebook:2024",
		"docker.io/jupyter/base-notebook:latest",
		"docker.io/evil/miner:latest",
		"quay.io/team/lab/sub:v1",
		"ghcr.io/org/img@sha256:abcd",
	}
	cases := map[string]struct {
		allow, deny []string
		want        []string
	}{
		"default allows all": {want: images},
		"allow one org with *": {
			allow: []string{"docker.io/jupyter/*"},
			want:  []string{"docker.io/jupyter/scipy-notebook:2024", "docker.io/jupyter/base-notebook:latest"},
		},
		"* does not cross /": {
			allow: []string{"quay.io/team/*"},
			want:  nil,
		},
		"** crosses /": {
			allow: []string{"quay.io/team/**"},
			want:  []string{"quay.io/team/lab/sub:v1"},
		},
		"** after a partial segment": {
			allow: []string{"docker.io/jupyter/scipy**", "ghcr.io/**"},
			want:  []string{"docker.io/jupyter/scipy-notebook:2024", "ghcr.io/org/img@sha256:abcd"},
		},
		"deny wins over allow": {
			allow: []string{"docker.io/**"},
			deny:  []string{"docker.io/evil/**", "*/*/base-notebook:*"},
			want:  []string{"docker.io/jupyter/scipy-notebook:2024"},
		},
		"deny only": {
			deny: []string{"docker.io/evil/*"},
			want: []string{"docker.io/jupyter/scipy-notebook:2024", "docker.io/jupyter/base-notebook:latest", "quay.io/team/lab/sub:v1", "ghcr.io/org/img@sha256:abcd"},
		},
		"tag patterns": {
			allow: []string{"docker.io/jupyter/*:20[0-9][0-9]"},
			want:  []string{"docker.io/jupyter/scipy-notebook:2024"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := New(tc.allow, tc.deny)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, img := range images {
				if p.Allowed(img) {
					got = append(got, img)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("allowed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadPatterns(t *testing.T) {
	for name, pat := range map[string]string{"empty": "", "open class": "docker.io/[a-", "bad escape": "x\\"} {
		t.Run(name, func(t *testing.T) {
			if _, err := New([]string{pat}, nil); err == nil {
				t.Errorf("New accepted %q", pat)
			}
		})
	}
}
