package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// StartForRealNodes starts etcd, a kube-apiserver that real kubelets and
// pods can use, kube-controller-manager and kube-scheduler. The API server
// listens on the bridge's gateway address (pods reach it there; its serving
// certificate names that address) and differs from Start's in what a real
// cluster has: the ServiceAccount admission plugin on (envtest turns it
// off), PodSecurity on, webhooks called at their Service's endpoints (no
// kube-proxy here), and logs and exec reaching kubelets at their
// InternalIP. It refuses a loopback advertise address, so it advertises the
// bridge address and keeps no endpoints for the kubernetes Service.
func StartForRealNodes(ctx context.Context, dir string, bridge Bridge) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	c.Env = &envtest.Environment{BinaryAssetsDirectory: assets}
	api := c.Env.ControlPlane.GetAPIServer()
	api.CertDir = filepath.Join(dir, "apiserver")
	if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", api.CertDir, err)
	}
	// envtest picks a loopback address unless given both address and port.
	port, err := freePort(bridge.Address)
	if err != nil {
		return nil, err
	}
	api.SecureServing.ListenAddr.Address = bridge.Address
	api.SecureServing.ListenAddr.Port = strconv.Itoa(port)
	args := api.Configure()
	args.Disable("disable-admission-plugins")
	args.Set("enable-admission-plugins", "ServiceAccount,PodSecurity")
	args.Set("enable-aggregator-routing", "true")
	args.Set("advertise-address", bridge.Address)
	args.Set("endpoint-reconciler-type", "none")
	args.Set("kubelet-preferred-address-types", "InternalIP")
	if c.Config, err = c.Env.Start(); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.Env.KubeConfig, 0o600); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	opts := Options{ControllerManager: true, Scheduler: true}
	if err := c.startComponents(assets, opts); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if err := c.waitForDefaultServiceAccount(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}
