// Package ops_test runs the operator commands (prepuller status, explain,
// await) against a real kube-apiserver and etcd, on objects shaped as
// prepuller publishes them: nodes with status.images, a state ConfigMap
// encoded by pkg/imageset, a DaemonSet rendered by puller/render, a Lease.
package ops_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/test/cluster"
)

var (
	k8s client.Client
	// kubeconfig is the test API server's admin kubeconfig file.
	kubeconfig string
	update     = flag.Bool("update", false, "rewrite the golden files in testdata/")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := cluster.AssetsDir(); err != nil {
		fmt.Fprintf(os.Stderr, "ops integration tests need the control-plane binaries: %v\n"+
			"set KUBEBUILDER_ASSETS=$(test/controlplane/build.sh --print-dir)\n", err)
		os.Exit(1)
	}
	c, err := cluster.Start(context.Background(), cluster.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting kube-apiserver and etcd: %v\n", err)
		os.Exit(1)
	}
	kubeconfig = c.Kubeconfig
	k8s, err = client.New(c.Config, client.Options{})
	if err != nil {
		_ = c.Stop()
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping control plane: %v\n", err)
	}
	os.Exit(code)
}
