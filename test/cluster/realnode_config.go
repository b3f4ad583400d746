package cluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// containerdConfig keeps every path of containerd (root, state, socket,
// runc state, network namespaces, the opt plugin) under dir.
// restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and runc fails
// every sandbox that tries to lower its oom_score_adj.
func containerdConfig(dir, socket string, o RealNodeOptions) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[6]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[8]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, filepath.Join(dir, "opt"),
		o.SandboxImage, filepath.Join(dir, "runc"), filepath.Join(dir, "cni"), filepath.Join(dir, "certs.d"))
}

// writeRegistryHosts lets containerd pull from the loopback registry over
// plain HTTP.
func writeRegistryHosts(dir, registry string) error {
	d := filepath.Join(dir, registry)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", d, err)
	}
	hosts := fmt.Sprintf("server = \"http://%[1]s\"\n\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registry)
	if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("writing hosts.toml: %w", err)
	}
	return nil
}

// writeCNIConfig attaches pods to the bridge with addresses from
// 10.244.<index>.0/24, IPAM state under dir. No isGateway (the harness put
// the gateway address on the bridge; the plugin would also switch on
// ip_forward), no ipMasq, no routes: a pod reaches the bridge's subnet and
// nothing else.
func writeCNIConfig(confDir, dir string, o RealNodeOptions) error {
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", confDir, err)
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "prepuller-e2e-%[1]s",
  "plugins": [{
    "type": "bridge",
    "bridge": %[2]q,
    "isGateway": false,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "dataDir": %[3]q,
      "ranges": [[{"subnet": "%[4]s/%[5]d", "rangeStart": "10.244.%[6]d.2", "rangeEnd": "10.244.%[6]d.254"}]]
    }
  }]
}
`, o.Name, o.Bridge.Name, filepath.Join(dir, "ipam"), subnetOf(o.Bridge), o.Bridge.Prefix, o.Index)
	if err := os.WriteFile(filepath.Join(confDir, "10-prepuller.conflist"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("writing CNI config: %w", err)
	}
	return nil
}

// subnetOf is the network address of the bridge's /16 (the harness only
// uses /16 bridges whose gateway ends in .0.1).
func subnetOf(b Bridge) string {
	var a, c int
	fmt.Sscanf(b.Address, "%d.%d.", &a, &c)
	return fmt.Sprintf("%d.%d.0.0", a, c)
}

// kubeletConfig: cgroupfs on the v1 hierarchies below the node's own
// cgroupRoot; no iptables chains; kernel defaults checked, not written
// (see startKubelet); image GC off (the tests measure pulls, and GC would
// only add noise); node status every 2s; DNS from nowhere (pods reach
// nothing outside the bridge anyway).
func kubeletConfig(n *RealNode, o RealNodeOptions, port, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%[4]s
cgroupDriver: cgroupfs
cgroupRoot: %[5]s
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: true
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
nodeStatusUpdateFrequency: 2s
podLogsDir: %[6]s
volumePluginDir: %[7]s
resolvConf: ""
maxPods: 40
`, o.Bridge.Address, port, healthzPort, n.socket(), n.cgroup,
		filepath.Join(n.Dir, "pod-logs"), filepath.Join(n.Dir, "volume-plugins"))
}
