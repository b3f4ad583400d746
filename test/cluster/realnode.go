package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// RealNodeOptions describe one real node: a containerd and a kubelet of
// its own, on this machine.
type RealNodeOptions struct {
	Name       string // node name, e.g. node-1
	Index      int    // 1, 2, ...: picks the pod IP range 10.244.<Index>.0/24
	Dir        string // everything of the node lives below it
	Kubeconfig string // the kubelet's credentials
	Bridge     Bridge
	// Registry is the loopback registry host:port containerd may pull from
	// over plain HTTP; SandboxImage is the pause image it holds.
	Registry     string
	SandboxImage string
	Assets       string // directory holding kubelet
}

// RealNode is a running containerd + kubelet pair.
type RealNode struct {
	Name      string
	Dir       string
	cgroup    string
	kubelet   *process
	container *process
}

// StartRealNode starts containerd, then a kubelet that registers the node
// with the API server. The caller waits for the node to be Ready.
func StartRealNode(ctx context.Context, o RealNodeOptions) (*RealNode, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating node dir: %w", err)
	}
	n := &RealNode{Name: o.Name, Dir: o.Dir, cgroup: "/prepuller-e2e-" + o.Name}
	if err := n.startContainerd(o); err != nil {
		_ = n.Stop()
		return nil, err
	}
	if err := n.startKubelet(o); err != nil {
		_ = n.Stop()
		return nil, err
	}
	return n, nil
}

func (n *RealNode) socket() string { return filepath.Join(n.Dir, "containerd.sock") }

func (n *RealNode) startContainerd(o RealNodeOptions) error {
	cfg := filepath.Join(n.Dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(containerdConfig(n.Dir, n.socket(), o)), 0o644); err != nil {
		return fmt.Errorf("writing containerd config: %w", err)
	}
	if err := writeRegistryHosts(filepath.Join(n.Dir, "certs.d"), o.Registry); err != nil {
		return err
	}
	if err := writeCNIConfig(filepath.Join(n.Dir, "cni"), n.Dir, o); err != nil {
		return err
	}
	p, err := startProcess(n.Dir, "containerd", "containerd", "--config", cfg)
	if err != nil {
		return err
	}
	n.container = p
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if dead, err := p.exited(); dead {
			return err
		}
		if c, err := net.Dial("unix", n.socket()); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("containerd of %s did not open %s in 30s:\n%s", n.Name, n.socket(), TailFile(p.log.Name(), 15))
}

func (n *RealNode) startKubelet(o RealNodeOptions) error {
	root := filepath.Join(n.Dir, "kubelet")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating kubelet root: %w", err)
	}
	// runc (host mount namespace) must see the tmpfs volumes the kubelet
	// (its own namespace, below) mounts under its root: a shared bind
	// mount of the root makes the two namespaces peers there.
	for _, args := range [][]string{{"--bind", root, root}, {"--make-shared", root}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("mount %v: %w: %s", args, err, out)
		}
	}
	if err := createCgroupRoot(n.cgroup); err != nil {
		return err
	}
	kport, err := freePort(o.Bridge.Address)
	if err != nil {
		return err
	}
	hport, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	cfg := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(cfg, []byte(kubeletConfig(n, o, kport, hport)), 0o644); err != nil {
		return fmt.Errorf("writing kubelet config: %w", err)
	}
	sysctls, err := writeSysctlValues(filepath.Join(n.Dir, "sysctl"))
	if err != nil {
		return err
	}
	kubelet, err := requireBinary(o.Assets, "kubelet")
	if err != nil {
		return err
	}
	// protectKernelDefaults makes the kubelet check, not write, three
	// sysctls; in its own mount namespace it reads the values it wants
	// from files bound over them, so the host's stay untouched.
	script := "set -e; mount --make-rprivate /proc;"
	for path, file := range sysctls {
		script += fmt.Sprintf(" mount --bind %s %s;", file, path)
	}
	script += ` exec "$@"`
	args := []string{"-m", "--propagation", "unchanged", "sh", "-c", script, "kubelet", kubelet,
		"--config=" + cfg,
		"--kubeconfig=" + o.Kubeconfig,
		"--root-dir=" + root,
		"--hostname-override=" + n.Name,
		"--node-ip=" + o.Bridge.Address,
	}
	p, err := startProcess(n.Dir, "kubelet", "unshare", args...)
	if err != nil {
		return err
	}
	n.kubelet = p
	return nil
}

// Exited reports whether containerd or the kubelet died.
func (n *RealNode) Exited() error {
	for _, p := range []*process{n.container, n.kubelet} {
		if p == nil {
			continue
		}
		if dead, err := p.exited(); dead {
			return err
		}
	}
	return nil
}

// Stop ends the kubelet, the node's containers and shims, and containerd,
// then removes the node's mounts, cgroups and directory.
func (n *RealNode) Stop() error {
	if n.kubelet != nil {
		n.kubelet.stop(5 * time.Second)
	}
	var errs []error
	if err := removeCgroupRoot(n.cgroup); err != nil {
		errs = append(errs, err)
	}
	killProcessesMentioning(n.Dir)
	if n.container != nil {
		n.container.stop(5 * time.Second)
	}
	killProcessesMentioning(n.Dir)
	if err := unmountUnder(n.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroupRoot(n.cgroup); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(n.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", n.Dir, err))
	}
	return errors.Join(errs...)
}

// LogPath is the kubelet's log, for failure messages.
func (n *RealNode) LogPath() string { return filepath.Join(n.Dir, "kubelet.log") }

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeSysctlValues writes the values the kubelet expects with
// protectKernelDefaults, one file per sysctl, and maps /proc paths to them.
func writeSysctlValues(dir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	want := map[string]int{"vm/overcommit_memory": 1, "kernel/panic": 10, "kernel/panic_on_oops": 1}
	out := map[string]string{}
	for k, v := range want {
		f := filepath.Join(dir, filepath.Base(k))
		if err := os.WriteFile(f, []byte(strconv.Itoa(v)+"\n"), 0o444); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f, err)
		}
		out["/proc/sys/"+k] = f
	}
	return out, nil
}
