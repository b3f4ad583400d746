package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// kubeconfigWithoutLimits is what kind, minikube or a cloud CLI write: no
// client rate limits, so client-go would fall back to 5 QPS.
const kubeconfigWithoutLimits = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`

// TestRESTConfigLimits checks the rate limits of the rest.Config that serve
// hands to the manager, whichever way the config is found. Before they were
// set explicitly, --kubeconfig gave client-go's default of 5 QPS (QPS 0)
// while controller-runtime's loader (in-cluster, $KUBECONFIG) turned the
// client limit off (QPS -1).
func TestRESTConfigLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, []byte(kubeconfigWithoutLimits), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args  []string
		env   string // $KUBECONFIG
		qps   float32
		burst int
	}{
		// --kubeconfig is read by clientcmd directly.
		"--kubeconfig, defaults": {args: []string{"--kubeconfig", file}, qps: 50, burst: 100},
		// No --kubeconfig: controller-runtime's loader, the same one that
		// reads the in-cluster config and post-processes it the same way.
		"in-cluster-like loader, defaults": {env: file, qps: 50, burst: 100},
		"--kubeconfig, flags":              {args: []string{"--kubeconfig", file, "--kube-api-qps=7.5", "--kube-api-burst=9"}, qps: 7.5, burst: 9},
		"in-cluster-like loader, flags":    {env: file, args: []string{"--kube-api-qps", "200", "--kube-api-burst", "400"}, qps: 200, burst: 400},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			opts, err := parseServeFlags(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := restConfig(opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.QPS != tc.qps || cfg.Burst != tc.burst {
				t.Errorf("QPS, burst = %v, %d; want %v, %d", cfg.QPS, cfg.Burst, tc.qps, tc.burst)
			}
		})
	}
}
