package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"prepuller.dev/prepuller/pkg/userpod"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("default configuration is invalid: %v", err)
	}
}

func TestParse(t *testing.T) {
	cases := map[string]struct {
		yaml    string
		mutate  func(*Config) // expected changes from Default
		wantErr string        // substring naming the field
	}{
		"empty file keeps defaults": {yaml: ""},
		"overrides nested values": {
			yaml: "logLevel: debug\nwebhook:\n  affinityWeight: 20\npuller:\n  writeInterval: 30s\n  maxImages: 5\n",
			mutate: func(c *Config) {
				c.LogLevel = "debug"
				c.Webhook.AffinityWeight = 20
				c.Puller.WriteInterval.Duration = 30 * time.Second
				c.Puller.MaxImages = 5
			},
		},
		"unknown key is an error": {yaml: "webhook:\n  afinityWeight: 20\n", wantErr: "afinityWeight"},
		"wrong type is an error":  {yaml: "puller:\n  maxImages: many\n", wantErr: "maxImages"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Default()
			err := Parse([]byte(tc.yaml), &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			if tc.mutate != nil {
				tc.mutate(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateNamesFields(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Config)
		want   []string
	}{
		"log level":       {mutate: func(c *Config) { c.LogLevel = "loud" }, want: []string{"logLevel"}},
		"log format":      {mutate: func(c *Config) { c.LogFormat = "xml" }, want: []string{"logFormat"}},
		"webhook weight":  {mutate: func(c *Config) { c.Webhook.AffinityWeight = 0 }, want: []string{"webhook.affinityWeight"}},
		"webhook port":    {mutate: func(c *Config) { c.Webhook.Port = 70000 }, want: []string{"webhook.port"}},
		"bad selector":    {mutate: func(c *Config) { c.UserPods.PodSelector = "a in (" }, want: []string{"userPods.podSelector"}},
		"puller interval": {mutate: func(c *Config) { c.Puller.WriteInterval.Duration = 0 }, want: []string{"puller.writeInterval"}},
		"several at once": {
			mutate: func(c *Config) { c.Namespace = ""; c.Puller.MaxImages = 0 },
			want:   []string{"namespace", "puller.maxImages"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w+":") {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "reading config file") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("namespace: jhub-tools\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "jhub-tools" {
		t.Errorf("Namespace = %q", c.Namespace)
	}
}

// A file written before userPods existed still loads, with a notice per
// moved key; the same key in both places with different values is refused.
func TestMovedUserPodKeys(t *testing.T) {
	cases := map[string]struct {
		yaml      string
		want      userpod.Options
		wantNotes int
		wantErr   string
	}{
		"old keys move": {
			yaml:      "webhook:\n  podSelector: app=nb\n  namespaces: [hub]\n  excludedNamespaces: [x]\n  eligibleNodeSelector: pool=user\n",
			want:      userpod.Options{PodSelector: "app=nb", Namespaces: []string{"hub"}, ExcludedNamespaces: []string{"x"}, EligibleNodeSelector: "pool=user"},
			wantNotes: 4,
		},
		"new keys": {
			yaml: "userPods:\n  podSelector: app=nb\n",
			want: userpod.Options{PodSelector: "app=nb", ExcludedNamespaces: []string{"kube-system"}},
		},
		"both, same value": {
			yaml:      "userPods:\n  podSelector: app=nb\nwebhook:\n  podSelector: app=nb\n",
			want:      userpod.Options{PodSelector: "app=nb", ExcludedNamespaces: []string{"kube-system"}},
			wantNotes: 1,
		},
		"both, different values": {
			yaml:    "userPods:\n  podSelector: app=nb\nwebhook:\n  podSelector: app=other\n",
			wantErr: "webhook.podSelector",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			err := Parse([]byte(tc.yaml), &c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.UserPods); diff != "" {
				t.Errorf("userPods (-want +got):\n%s", diff)
			}
			if len(c.Deprecations) != tc.wantNotes {
				t.Errorf("deprecation notices %q, want %d", c.Deprecations, tc.wantNotes)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}
