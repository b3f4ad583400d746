package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// HostTraces is what real nodes could leave on the host, outside their own
// directory: network links, mount points, top-level cgroups, CNI result
// and IPAM files, container log symlinks, containerd's shim sockets and
// network namespaces, and processes that name a run's directory (etcd,
// kube-apiserver, containerd and its shims, kubelets). Take one before and
// one after; Diff names what is new.
type HostTraces map[string]bool

// hostTracePlaces are the directories whose entries count as traces.
var hostTracePlaces = []string{
	"/sys/class/net",
	"/var/lib/cni", "/var/lib/cni/results", "/var/lib/cni/networks",
	"/var/log/containers", "/var/log/pods",
	"/run/containerd", "/run/containerd/s", "/run/netns", "/var/run/netns",
	"/var/lib/kubelet", "/etc/kubernetes", "/opt/containerd",
	"/usr/libexec/kubernetes",
}

// SnapshotHostTraces records the current traces.
func SnapshotHostTraces() (HostTraces, error) {
	t := HostTraces{}
	for _, dir := range hostTracePlaces {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("reading %s: %w", dir, err)
		}
		t["dir "+dir] = true
		for _, e := range entries {
			t["entry "+filepath.Join(dir, e.Name())] = true
		}
	}
	hs, err := cgroupHierarchies()
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() {
				t["cgroup "+filepath.Join(h, e.Name())] = true
			}
		}
	}
	points, err := mountPoints()
	if err != nil {
		return nil, err
	}
	for _, p := range points {
		t["mount "+p] = true
	}
	for _, p := range runProcesses() {
		t["process "+p] = true
	}
	return t, nil
}

// RunDirPrefix starts the name of every e2e run's directory under the
// temporary directory; the processes a run starts name it in their
// command lines.
const RunDirPrefix = "prepuller-e2e-"

// runProcesses lists "<pid> <command>" for each process (but this one)
// whose command line names a run's directory.
func runProcesses() []string {
	mark := []byte(filepath.Join(os.TempDir(), RunDirPrefix))
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmd, mark) {
			continue
		}
		argv0, _, _ := bytes.Cut(cmd, []byte{0})
		out = append(out, fmt.Sprintf("%d %s", pid, filepath.Base(string(argv0))))
	}
	return out
}

// Stale returns the traces of an earlier run in t (a run killed before its
// teardown): its processes, cgroups and mounts. A run must not start over
// them: it would count them as the host's own and pass on a dirty host.
func (t HostTraces) Stale() []string {
	var out []string
	for k := range t {
		if strings.Contains(k, RunDirPrefix) || strings.HasPrefix(k, "process ") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Diff lists the traces in after that are not in t, sorted.
func (t HostTraces) Diff(after HostTraces) []string {
	var out []string
	for k := range after {
		if !t[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// RemoveNew deletes the traces in after that were not in t and that belong
// to the real nodes: veth interfaces left by pods, and files (CNI results and IPAM files, container log
// symlinks, shim sockets, directories those made): the kubelet and
// containerd write them to fixed host paths.
func (t HostTraces) RemoveNew(after HostTraces) {
	var paths []string
	for _, k := range t.Diff(after) {
		kind, path, _ := strings.Cut(k, " ")
		if kind != "entry" && kind != "dir" {
			continue
		}
		if name, ok := strings.CutPrefix(path, "/sys/class/net/"); ok {
			// A pod's veth pair whose other end is in a network
			// namespace something still holds: deleting this end
			// deletes both. Only interfaces the run added get here.
			if strings.HasPrefix(name, "veth") {
				_ = exec.Command("ip", "link", "del", name).Run()
			}
			continue
		}
		if strings.HasPrefix(path, "/sys/") {
			continue
		}
		paths = append(paths, path)
	}
	// Deepest first, so directories are empty when their turn comes.
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for _, p := range paths {
		_ = os.RemoveAll(p)
	}
}
