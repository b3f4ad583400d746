package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

func TestParseServeFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("logLevel: debug\nwebhook:\n  port: 8443\n  affinityWeight: 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args    []string
		mutate  func(*config.Config) // expected changes from the defaults
		wantErr string
	}{
		"defaults": {},
		"flags only": {
			args: []string{"--namespace=jhub-tools", "--webhook-port", "10443", "--leader-elect=false"},
			mutate: func(c *config.Config) {
				c.Namespace = "jhub-tools"
				c.Webhook.Port = 10443
				c.LeaderElection.Enabled = false
			},
		},
		"file only": {
			args:   []string{"--config", file},
			mutate: func(c *config.Config) { c.LogLevel = "debug"; c.Webhook.Port = 8443; c.Webhook.AffinityWeight = 20 },
		},
		"flag wins over file, wherever it stands": {
			args:   []string{"--webhook-port=9999", "--config=" + file},
			mutate: func(c *config.Config) { c.LogLevel = "debug"; c.Webhook.Port = 9999; c.Webhook.AffinityWeight = 20 },
		},
		"invalid value names the field": {args: []string{"--log-format=xml"}, wantErr: "logFormat:"},
		"unknown flag":                  {args: []string{"--nope"}, wantErr: "flag provided but not defined"},
		"stray argument":                {args: []string{"extra"}, wantErr: "unexpected arguments: extra"},
		"missing config file":           {args: []string{"--config", "/does/not/exist"}, wantErr: "reading config file"},
		"zero QPS":                      {args: []string{"--kube-api-qps=0"}, wantErr: "--kube-api-qps: 0 must be a positive number"},
		"NaN QPS":                       {args: []string{"--kube-api-qps=NaN"}, wantErr: "--kube-api-qps: NaN"},
		"negative burst":                {args: []string{"--kube-api-burst=-1"}, wantErr: "--kube-api-burst: -1 must be at least 1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseServeFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := config.Default()
			if tc.mutate != nil {
				tc.mutate(&want)
			}
			if diff := cmp.Diff(want, got.cfg); diff != "" {
				t.Errorf("configuration (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEveryFlagIsDocumented keeps docs/configuration.md true for the flags,
// including those (like --kube-api-qps) that have no key in the file.
func TestEveryFlagIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	var usage strings.Builder
	if _, err := parseServeFlags([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	flags := 0
	for _, line := range strings.Split(usage.String(), "\n") {
		// PrintDefaults starts each flag's line with "  -name".
		rest, ok := strings.CutPrefix(line, "  -")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		flags++
		if !strings.Contains(string(doc), "`--"+name) {
			t.Errorf("docs/configuration.md does not document `--%s`", name)
		}
	}
	if flags < 10 {
		t.Fatalf("found %d flags in the usage text; has its format changed?\n%s", flags, usage.String())
	}
}

func TestRunExitCodes(t *testing.T) {
	cases := map[string]struct {
		args []string
		want int
	}{
		"no command":        {args: nil, want: 2},
		"unknown command":   {args: []string{"frobnicate"}, want: 2},
		"version":           {args: []string{"version"}, want: 0},
		"serve, bad config": {args: []string{"serve", "--log-level=loud"}, want: 2},
		"serve, help":       {args: []string{"serve", "-h"}, want: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			stderr := os.Stderr
			os.Stderr, _ = os.Open(os.DevNull)
			defer func() { os.Stderr = stderr }()
			if got := run(tc.args); got != tc.want {
				t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
