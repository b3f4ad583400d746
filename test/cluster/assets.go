// Package cluster starts a local Kubernetes control plane from real binaries
// (etcd, kube-apiserver, and on request kube-controller-manager,
// kube-scheduler and kwok simulating nodes) for integration tests, the demo
// and the simulator. etcd and kube-apiserver are started by controller-runtime's
// envtest; the rest are started here with the admin kubeconfig envtest makes.
package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Binaries the full control plane needs, all built by
// test/controlplane/build.sh.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// AssetsDir returns the directory holding the control-plane binaries:
// $KUBEBUILDER_ASSETS when set, else the directory build.sh builds into.
// It errors, saying how to build them, when kube-apiserver is not there.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		out, err := exec.Command("bash", buildScript(), "--print-dir").Output()
		if err != nil {
			return "", fmt.Errorf("locating control-plane binaries: KUBEBUILDER_ASSETS is unset and %s failed: %w", buildScript(), err)
		}
		dir = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", fmt.Errorf("control-plane binaries not found in %s: run 'make test' or test/controlplane/build.sh first: %w", dir, err)
	}
	return dir, nil
}

// RepoRoot is the root of this repository, found from this source file.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func buildScript() string {
	return filepath.Join(RepoRoot(), "test", "controlplane", "build.sh")
}

func requireBinary(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s not found in %s: run test/controlplane/build.sh", name, dir)
		}
		return "", err
	}
	return p, nil
}
