package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/test/cluster"
)

// environment is everything TestMain started.
type environment struct {
	install  string // installKustomize or installHelm
	dir      string
	before   cluster.HostTraces
	bridge   cluster.Bridge
	registry *registry
	images   testImages
	cluster  *cluster.Cluster
	config   *rest.Config
	c        client.Client
	cs       *kubernetes.Clientset

	mu    sync.Mutex
	nodes []*cluster.RealNode

	results  results
	downOnce sync.Once
	downOK   bool
}

// setUp checks the host, then starts the registry, the control plane, two
// real nodes and prepuller. On error, the returned environment (if any)
// holds what started, for tearDown.
func setUp() (*environment, error) {
	install, err := installFromEnv()
	if err != nil {
		return nil, err
	}
	if err := checkHost(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	before, err := cluster.SnapshotHostTraces()
	if err != nil {
		return nil, err
	}
	if stale := before.Stale(); len(stale) > 0 {
		return nil, fmt.Errorf("an earlier run left %v on the host (killed before its teardown?); stop and remove them first (docs/e2e.md)", stale)
	}
	dir, err := os.MkdirTemp("", cluster.RunDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating the run's directory: %w", err)
	}
	e := &environment{install: install, dir: dir, before: before, bridge: cluster.DefaultBridge}
	e.results.Install = install
	logf("installing prepuller with %s", install)
	step := func(name string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		logf("%s: %.1fs", name, time.Since(t).Seconds())
		return nil
	}
	if err := step("registry and images", func() error {
		var err error
		if e.registry, err = startRegistry(); err != nil {
			return err
		}
		e.images, err = pushImages(ctx, e.registry)
		return err
	}); err != nil {
		return e, err
	}
	if err := step("bridge", e.bridge.Create); err != nil {
		return e, err
	}
	if err := step("control plane", func() error {
		var err error
		if e.cluster, err = cluster.StartForRealNodes(ctx, filepath.Join(dir, "cluster"), e.bridge); err != nil {
			return err
		}
		e.config = e.cluster.Config
		e.config.QPS, e.config.Burst = 50, 100
		if e.c, err = client.New(e.config, client.Options{}); err != nil {
			return err
		}
		e.cs, err = kubernetes.NewForConfig(e.config)
		return err
	}); err != nil {
		return e, err
	}
	for i := 1; i <= 2; i++ {
		if err := step(fmt.Sprintf("node-%d Ready", i), func() error {
			_, err := e.addNode(ctx, i)
			return err
		}); err != nil {
			return e, err
		}
	}
	if err := step("prepuller installed ("+install+") and Ready", func() error { return e.installPrepuller(ctx) }); err != nil {
		return e, err
	}
	logf("setup: %.1fs", time.Since(start).Seconds())
	e.results.SetupSeconds = time.Since(start).Seconds()
	return e, nil
}

// addNode starts real node node-<i> and waits until it is Ready.
func (e *environment) addNode(ctx context.Context, i int) (*cluster.RealNode, error) {
	assets, err := cluster.AssetsDir()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("node-%d", i)
	n, err := cluster.StartRealNode(ctx, cluster.RealNodeOptions{
		Name:         name,
		Index:        i,
		Dir:          filepath.Join(e.dir, name),
		Kubeconfig:   e.cluster.Kubeconfig,
		Bridge:       e.bridge,
		Registry:     e.registry.host,
		SandboxImage: e.images.pause,
		Assets:       assets,
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.nodes = append(e.nodes, n)
	e.mu.Unlock()
	if err := waitNodeReady(ctx, e.c, n); err != nil {
		return n, err
	}
	return n, nil
}

// tearDown stops everything setUp started, removes the host traces, and
// reports whether the host is back as it was. Safe to call twice.
func (e *environment) tearDown() bool {
	e.downOnce.Do(func() {
		var errs []error
		e.mu.Lock()
		nodes := e.nodes
		e.mu.Unlock()
		for _, n := range nodes {
			if err := n.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if e.cluster != nil {
			if err := e.cluster.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.bridge.Delete(); err != nil {
			errs = append(errs, err)
		}
		if e.registry != nil {
			e.registry.stop()
		}
		if after, err := cluster.SnapshotHostTraces(); err == nil {
			e.before.RemoveNew(after)
		}
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, err)
		}
		after, err := cluster.SnapshotHostTraces()
		if err != nil {
			errs = append(errs, err)
		} else if left := e.before.Diff(after); len(left) > 0 {
			errs = append(errs, fmt.Errorf("left on the host: %v", left))
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: teardown:", err)
			return
		}
		logf("teardown: host clean")
		e.downOK = true
	})
	return e.downOK
}

// checkHost says what make e2e needs when it is missing.
func checkHost() error {
	if os.Geteuid() != 0 {
		return errors.New("real nodes need root (cgroups, mounts, a bridge)")
	}
	for _, bin := range []string{"containerd", "runc", "unshare", "mount", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: install Debian's containerd, runc and containernetworking-plugins (make e2e does): %w", bin, err)
		}
	}
	// The harness makes each kubelet's cgroupRoot in the v1 hierarchies
	// (the machines this runs on mount cgroup v1). A unified (v2) host has
	// cgroup.controllers at the root; say so rather than fail later.
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return errors.New("this host mounts cgroup v2 (unified hierarchy) at /sys/fs/cgroup: make e2e supports cgroup v1 hosts only (docs/e2e.md)")
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cgroup.procs"); err != nil {
		return fmt.Errorf("cgroup v1 hierarchies not mounted under /sys/fs/cgroup (cgroup v2 hosts are not supported by make e2e yet): %w", err)
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", plugin)); err != nil {
			return fmt.Errorf("CNI plugin %s: install containernetworking-plugins: %w", plugin, err)
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
}
