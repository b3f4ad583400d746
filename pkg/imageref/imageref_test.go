package imageref

import "testing"

func TestNormalize(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := map[string]struct {
		in      string
		want    string
		wantErr bool
	}{
		"docker hub short name":       {in: "jupyter/scipy-notebook", want: "docker.io/jupyter/scipy-notebook:latest"},
		"official image":              {in: "ubuntu", want: "docker.io/library/ubuntu:latest"},
		"tag kept":                    {in: "quay.io/jupyter/base-notebook:2024-01-01", want: "quay.io/jupyter/base-notebook:2024-01-01"},
		"registry with port":          {in: "localhost:5000/x/y:1", want: "localhost:5000/x/y:1"},
		"digest kept":                 {in: "jupyter/minimal@" + digest, want: "docker.io/jupyter/minimal@" + digest},
		"tag and digest keeps digest": {in: "jupyter/minimal:1@" + digest, want: "docker.io/jupyter/minimal@" + digest},
		"surrounding space":           {in: "  ubuntu:22.04 ", want: "docker.io/library/ubuntu:22.04"},
		"already canonical":           {in: "docker.io/library/ubuntu:latest", want: "docker.io/library/ubuntu:latest"},
		"empty":                       {in: "", wantErr: true},
		"upper case repository":       {in: "Jupyter/Scipy", wantErr: true},
		"bad characters":              {in: "a b c", wantErr: true},
		"bad digest":                  {in: "x@sha256:abc", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Normalize(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
