package cluster

import (
	"context"
	"path/filepath"
)

// StartControllerManager starts kube-controller-manager on a running
// cluster (one started without Options.ControllerManager) with extra flags,
// and waits for it like Start does. The simulator (test/sim) needs this:
// it runs time scaled 60x, and the controller manager's default API rate
// limit (20 QPS) is wall-clock, so a DaemonSet rollout over 50 nodes would
// take simulated minutes instead of seconds.
func (c *Cluster) StartControllerManager(ctx context.Context, extraArgs ...string) error {
	assets, err := AssetsDir()
	if err != nil {
		return err
	}
	bin, err := requireBinary(assets, "kube-controller-manager")
	if err != nil {
		return err
	}
	certDir := c.Env.ControlPlane.GetAPIServer().CertDir
	args := append([]string{
		"--kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file=" + filepath.Join(certDir, "sa-signer.key"),
		"--use-service-account-credentials=false",
		"--controllers=*,-node-ipam-controller", // as in cluster.go
	}, extraArgs...)
	p, err := startProcess(c.Dir, "kube-controller-manager", bin, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return c.waitForDefaultServiceAccount(ctx)
}
