// Package puller_test runs the puller controller against a real
// kube-apiserver and etcd (envtest), and against a full control plane with
// kube-controller-manager, kube-scheduler and kwok nodes.
package puller_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/test/cluster"
)

var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	if _, err := cluster.AssetsDir(); err != nil {
		fmt.Fprintf(os.Stderr, "puller integration tests need the control-plane binaries: %v\n"+
			"set KUBEBUILDER_ASSETS=$(test/controlplane/build.sh --print-dir)\n", err)
		os.Exit(1)
	}
	c, err := cluster.Start(context.Background(), cluster.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting kube-apiserver and etcd: %v\n", err)
		os.Exit(1)
	}
	cfg = c.Config
	k8s, err = client.New(cfg, client.Options{})
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
