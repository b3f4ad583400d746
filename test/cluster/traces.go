package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// HostTraces is what real nodes could leave on the host, outside their own
// directory: network links, mount points, top-level cgroups, CNI result
// and IPAM files, container log symlinks, containerd's shim sockets and
// network namespaces. Take one before and one after; Diff names what is new.
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
	return t, nil
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
