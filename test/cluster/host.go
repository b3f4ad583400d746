package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Real nodes (RealNode) change the host: a bridge, cgroups, mounts, CNI
// result files, log symlinks. The helpers here make and undo each of those;
// HostTraces lists what they leave, so a test can show nothing is left.

// Bridge is the Linux bridge the real nodes' pods attach to. It holds the
// gateway address of the pod subnet, so the host reaches pods on the link
// and no pod packet is ever routed off the machine (pods get no default
// route; nothing is forwarded: ip_forward stays as it is).
type Bridge struct {
	Name    string // e.g. prepuller0
	Address string // gateway address, e.g. 10.244.0.1
	Prefix  int    // e.g. 16
}

// DefaultBridge is the bridge make e2e uses.
var DefaultBridge = Bridge{Name: "prepuller0", Address: "10.244.0.1", Prefix: 16}

// Create makes the bridge, replacing one of the same name a killed run left.
func (b Bridge) Create() error {
	if _, err := os.Stat("/sys/class/net/" + b.Name); err == nil {
		if err := b.Delete(); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"link", "add", b.Name, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("%s/%d", b.Address, b.Prefix), "dev", b.Name},
		{"link", "set", b.Name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			_ = b.Delete()
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Delete removes the bridge (and with it its address and route).
func (b Bridge) Delete() error {
	if _, err := os.Stat("/sys/class/net/" + b.Name); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "link", "del", b.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link del %s: %w: %s", b.Name, err, out)
	}
	return nil
}

// cgroupV1Root is where the v1 hierarchies are mounted.
const cgroupV1Root = "/sys/fs/cgroup"

// cgroupHierarchies lists the mounted v1 hierarchies a kubelet uses.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupV1Root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", cgroupV1Root, err)
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(cgroupV1Root, e.Name())
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil && e.Name() != "unified" {
			out = append(out, p)
		}
	}
	return out, nil
}

// createCgroupRoot makes a kubelet's cgroupRoot in every v1 hierarchy; the
// kubelet refuses to start without it. cpuset needs its cpus and mems
// copied from the parent before a task can join.
func createCgroupRoot(name string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := filepath.Join(h, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return fmt.Errorf("reading %s: %w", f, err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("writing %s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

// removeCgroupRoot kills every task left in the cgroup tree (containers of
// a killed kubelet) and removes the tree, deepest first.
func removeCgroupRoot(name string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		root := filepath.Join(h, name)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range dirs {
			for _, pid := range readPids(filepath.Join(d, "cgroup.procs")) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			if err := removeCgroupDir(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeCgroupDir retries rmdir while killed tasks exit.
func removeCgroupDir(d string) error {
	var err error
	for range 50 {
		if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		for _, pid := range readPids(filepath.Join(d, "cgroup.procs")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", d, err)
}

func readPids(path string) []int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var pids []int
	s := bufio.NewScanner(f)
	for s.Scan() {
		var pid int
		if _, err := fmt.Sscan(s.Text(), &pid); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder detaches every mount at or below dir, deepest first: pod
// volumes (tmpfs), network namespaces, overlay rootfs and the shared bind
// mount of a kubelet root dir.
func unmountUnder(dir string) error {
	var errs []error
	for range 3 {
		points, err := mountPoints()
		if err != nil {
			return err
		}
		var mine []string
		for _, p := range points {
			if p == dir || strings.HasPrefix(p, dir+"/") {
				mine = append(mine, p)
			}
		}
		if len(mine) == 0 {
			return nil
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mine)))
		errs = errs[:0]
		for _, p := range mine {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists this mount namespace's mount points.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, s.Err()
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// killProcessesMentioning SIGKILLs every process whose command line
// contains marker (a directory only this harness made): containerd's shims
// outlive containerd and are in no process group of ours.
func killProcessesMentioning(marker string) {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
