package pullsecrets

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		opts    Options
		wantErr string
	}{
		"off":                {},
		"on":                 {opts: Options{Namespace: "jhub", Names: []string{"regcred", "quay.io-creds"}}},
		"names without ns":   {opts: Options{Names: []string{"regcred"}}, wantErr: "p.names: set without p.namespace"},
		"ns without names":   {opts: Options{Namespace: "jhub"}, wantErr: "p.names: must name at least one secret"},
		"bad namespace":      {opts: Options{Namespace: "J_Hub", Names: []string{"a"}}, wantErr: `p.namespace: "J_Hub"`},
		"bad name":           {opts: Options{Namespace: "jhub", Names: []string{"Reg_Cred"}}, wantErr: `p.names[0]: "Reg_Cred"`},
		"listed twice":       {opts: Options{Namespace: "jhub", Names: []string{"a", "a"}}, wantErr: `p.names[1]: "a" is listed twice`},
		"empty name in list": {opts: Options{Namespace: "jhub", Names: []string{""}}, wantErr: `p.names[0]: ""`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.opts.Validate("p")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewRefusesOwnNamespace(t *testing.T) {
	_, err := New(Options{Namespace: "prepuller", Names: []string{"a"}}, "prepuller", nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "prepuller's own namespace") {
		t.Errorf("New() = %v, want an error about prepuller's own namespace", err)
	}
}
