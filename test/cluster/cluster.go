package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options choose which parts of the control plane to run besides etcd and
// kube-apiserver.
type Options struct {
	// ControllerManager runs kube-controller-manager (DaemonSet, ReplicaSet,
	// garbage collector and the other default controllers).
	ControllerManager bool
	// ControllerManagerArgs are extra kube-controller-manager flags, e.g.
	// higher API rate limits for the simulator's scaled time.
	ControllerManagerArgs []string
	// Scheduler runs kube-scheduler.
	Scheduler bool
	// SchedulerConfig is an optional KubeSchedulerConfiguration file.
	SchedulerConfig string
	// Kwok runs kwok, which turns nodes created by CreateNodes Ready and runs
	// the pods bound to them (init containers terminate with exit 0).
	Kwok bool
	// KwokStages replaces kwok's default stage file when set.
	KwokStages string
	// Webhooks are registered with the API server by envtest, with a CA and
	// a serving certificate it generates (see envtest.WebhookInstallOptions).
	Webhooks envtest.WebhookInstallOptions
	// APIServerArgs are extra kube-apiserver flags (name without dashes,
	// value), e.g. an admission-control-config-file.
	APIServerArgs map[string]string
	// Dir keeps logs and kubeconfig; a temporary directory when empty.
	Dir string
	// EtcdDataDir, when set, is etcd's data directory. envtest removes a
	// data directory it made itself when etcd stops, so a test that
	// restarts etcd (Env.ControlPlane.Etcd Stop, Start) names one to keep.
	EtcdDataDir string
}

// Cluster is a running local control plane.
type Cluster struct {
	Env        *envtest.Environment
	Config     *rest.Config
	Kubeconfig string // admin kubeconfig, usable with kubectl
	Dir        string
	ownDir     bool
	procs      []*process
}

// Start starts the control plane and waits until the API server answers and,
// with a controller manager, the default service account machinery is up.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: opts.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "prepuller-cluster-"); err != nil {
			return nil, fmt.Errorf("creating cluster dir: %w", err)
		}
		c.ownDir = true
	}
	c.Env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		WebhookInstallOptions: opts.Webhooks,
	}
	if opts.EtcdDataDir != "" {
		c.Env.ControlPlane.Etcd = &envtest.Etcd{DataDir: opts.EtcdDataDir}
	}
	apiserver := c.Env.ControlPlane.GetAPIServer()
	apiserver.CertDir = filepath.Join(c.Dir, "apiserver")
	for k, v := range opts.APIServerArgs {
		apiserver.Configure().Set(k, v)
	}
	if err := os.MkdirAll(apiserver.CertDir, 0o700); err != nil {
		return nil, err
	}
	if c.Config, err = c.Env.Start(); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.Env.KubeConfig, 0o600); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if err := c.startComponents(assets, opts); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if opts.ControllerManager {
		if err := c.waitForDefaultServiceAccount(ctx); err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) startComponents(assets string, opts Options) error {
	certDir := c.Env.ControlPlane.GetAPIServer().CertDir
	start := func(name string, args ...string) error {
		bin, err := requireBinary(assets, name)
		if err != nil {
			return err
		}
		p, err := startProcess(c.Dir, name, bin, args...)
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
		return nil
	}
	if opts.ControllerManager {
		if err := start("kube-controller-manager", append([]string{
			"--kubeconfig=" + c.Kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--service-account-private-key-file=" + filepath.Join(certDir, "sa-signer.key"),
			"--use-service-account-credentials=false",
			// Fake nodes have no pod CIDRs or clouds; these controllers
			// would only complain.
			"--controllers=*,-node-ipam-controller",
		}, opts.ControllerManagerArgs...)...); err != nil {
			return err
		}
	}
	if opts.Scheduler {
		args := []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0"}
		if opts.SchedulerConfig != "" {
			args = []string{"--config=" + opts.SchedulerConfig, "--secure-port=0"}
		}
		if err := start("kube-scheduler", args...); err != nil {
			return err
		}
	}
	if opts.Kwok {
		stages := opts.KwokStages
		if stages == "" {
			stages = filepath.Join(assets, "kwok-stages.yaml")
		}
		if _, err := os.Stat(stages); err != nil {
			return fmt.Errorf("kwok stages: %w (run test/controlplane/build.sh)", err)
		}
		if err := start("kwok",
			"--kubeconfig="+c.Kubeconfig,
			"--config="+stages,
			"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
			"--node-ip=10.99.0.1",
			"--server-address=127.0.0.1:0",
		); err != nil {
			return err
		}
	}
	// A component that dies at once (bad flag, port in use) should fail Start,
	// not a test minutes later.
	time.Sleep(500 * time.Millisecond)
	for _, p := range c.procs {
		if dead, err := p.exited(); dead {
			return err
		}
	}
	return nil
}

// waitForDefaultServiceAccount waits for the controller manager to create
// the default service account, which pods created through the API need
// once the ServiceAccount admission plugin is on.
func (c *Cluster) waitForDefaultServiceAccount(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, p := range c.procs {
			if dead, err := p.exited(); dead {
				return false, err
			}
		}
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1GetOptions)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for kube-controller-manager: %w", err)
	}
	return nil
}

// Stop ends every process the cluster started, then etcd and kube-apiserver,
// and removes the directory when Start made it.
func (c *Cluster) Stop() error {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	c.procs = nil
	var errs []error
	if c.Env != nil {
		if err := c.Env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping etcd and kube-apiserver: %w", err))
		}
	}
	if c.ownDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
