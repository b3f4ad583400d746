// Package faults runs prepuller as two replica processes against a real
// kube-apiserver and etcd while a spawner creates user pods at a fixed
// rate, injects one fault at a time and measures what users and the puller
// saw (docs/reliability.md). Without PREPULLER_FAULTS=1 only the faults
// marked short run, so `go test ./...` (make test) stays within minutes;
// `make faults` runs them all.
package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/webhook"
)

const (
	ns            = "prepuller"
	writeInterval = 2 * time.Second
)

// env is the control plane, the two replicas behind the proxy, the spawner
// and the write counter, shared by every fault in a run.
type env struct {
	c        *cluster.Cluster
	cs       *kubernetes.Clientset
	replicas []*replica
	proxy    *proxy
	byAddr   map[string]*replica // webhook address -> replica
	hooks    []string            // the replicas' webhook addresses
	certDirs []string            // the replicas' certificate directories
	spawner  *spawner
	writes   *writes
	dsName   string
	cmName   string
}

// startEnv starts everything; with spawn the spawner runs at spawnRate
// until the test ends.
func startEnv(ctx context.Context, t testing.TB, spawn bool) *env {
	t.Helper()
	if _, err := cluster.AssetsDir(); err != nil {
		t.Fatalf("the fault suite needs the control-plane binaries: %v (KUBEBUILDER_ASSETS=$(test/controlplane/build.sh --print-dir))", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "prepuller")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "prepuller.dev/prepuller/cmd/prepuller").CombinedOutput(); err != nil {
		t.Fatalf("building prepuller: %v\n%s", err, out)
	}
	if err := os.Mkdir(filepath.Join(dir, "etcd"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Start(ctx, cluster.Options{Webhooks: cluster.PrepullerWebhooks(ns, userpod.DefaultOptions()), Dir: filepath.Join(dir, "cluster"), EtcdDataDir: filepath.Join(dir, "etcd")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	rc := *c.Config
	rc.QPS, rc.Burst = 200, 200
	cs, err := kubernetes.NewForConfig(&rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ns, hubNS} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The install ships the self-signed Secret empty (RBAC lets prepuller
	// update it, not create it: docs/certificates.md).
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: certs.DefaultOptions().SecretName, Namespace: ns}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	base, err := c.PrepullerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, cs: cs, byAddr: map[string]*replica{}, dsName: base.Puller.DaemonSetName, cmName: base.Puller.StateConfigMapName}
	var backends []string
	for i := range 2 {
		hook, err := cluster.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		probe, err := cluster.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(hook)
		portN, _ := strconv.Atoi(port)
		// self-signed, the default mode: the replicas share one Secret and
		// write the CA into the configuration's caBundle themselves.
		certDir := filepath.Join(dir, fmt.Sprintf("certs-%d", i))
		if err := os.Mkdir(certDir, 0o700); err != nil {
			t.Fatal(err)
		}
		hookCfg := map[string]any{"host": "127.0.0.1", "port": portN, "certDir": certDir}
		if *maxAffinityNodes > 0 {
			hookCfg["maxAffinityNodes"] = *maxAffinityNodes
		}
		cfg := map[string]any{
			"namespace":              ns,
			"logFormat":              "json",
			"metricsBindAddress":     "0",
			"healthProbeBindAddress": probe,
			"webhook":                hookCfg,
			"certs":                  map[string]any{"mode": "self-signed", "dnsNames": []string{"localhost"}},
			"puller":                 map[string]any{"writeInterval": writeInterval.String(), "rolloutWait": "0s"},
		}
		data, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{name: fmt.Sprintf("replica-%d", i), bin: bin, config: filepath.Join(dir, fmt.Sprintf("config-%d.yaml", i)),
			kubeconfig: c.Kubeconfig, dir: dir, probeAddr: probe}
		if err := os.WriteFile(r.config, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.stop)
		e.replicas = append(e.replicas, r)
		e.byAddr[hook] = r
		backends = append(backends, hook)
		e.certDirs = append(e.certDirs, certDir)
	}
	e.hooks = backends
	hooks := c.Env.WebhookInstallOptions
	if err := callLocalhost(ctx, cs, hooks.LocalServingPort); err != nil {
		t.Fatal(err)
	}
	if e.proxy, err = newProxy(net.JoinHostPort(hooks.LocalServingHost, strconv.Itoa(hooks.LocalServingPort)), backends); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.proxy.close)
	for _, r := range e.replicas {
		if err := r.ready(ctx); err != nil {
			t.Fatalf("%s: %v; its log ends:\n%s", r.name, err, cluster.TailFile(r.logPath(1), 20))
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	e.spawner = newSpawner(cs, users, 13)
	if spawn {
		spawned := make(chan struct{})
		go func() { e.spawner.run(runCtx, spawnRate); close(spawned) }()
		t.Cleanup(func() { stop(); <-spawned })
	} else {
		t.Cleanup(stop)
	}
	e.writes = watchWrites(runCtx, cs, ns, e.dsName, e.cmName)
	return e
}

// callLocalhost points the registered webhook at https://localhost:port
// (envtest registered 127.0.0.1, and the self-signed certificate names
// localhost).
func callLocalhost(ctx context.Context, cs *kubernetes.Clientset, port int) error {
	mwcs := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := mwcs.Get(ctx, "prepuller", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the webhook configuration: %w", err)
	}
	for i := range mwc.Webhooks {
		u := fmt.Sprintf("https://localhost:%d%s", port, webhook.Path)
		mwc.Webhooks[i].ClientConfig.URL = &u
	}
	if _, err := mwcs.Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pointing the webhook at localhost: %w", err)
	}
	return nil
}

// pulled is what the DaemonSet pulls now (nil when it cannot be read).
func (e *env) pulled(ctx context.Context) []string {
	ds, err := e.cs.AppsV1().DaemonSets(ns).Get(ctx, e.dsName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return render.Images(ds)
}

// learned is the state ConfigMap's image set (nil when it is missing or
// does not decode).
func (e *env) learned(ctx context.Context) *imageset.Set {
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, e.cmName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	set, err := imageset.Decode([]byte(cm.Data[puller.StateKey]))
	if err != nil {
		return nil
	}
	return set
}

// holds reports whether the DaemonSet pulls, and the state keeps, every
// image of want.
func (e *env) holds(ctx context.Context, want []string) bool {
	pulled, set := e.pulled(ctx), e.learned(ctx)
	if set == nil {
		return false
	}
	for _, img := range want {
		if !slices.Contains(pulled, img) || set.Get(img) == nil {
			return false
		}
	}
	return true
}

func (e *env) leader() *replica {
	for _, r := range e.replicas {
		if r.leads() {
			return r
		}
	}
	return nil
}

func (e *env) follower() *replica {
	for _, r := range e.replicas {
		if !r.leads() {
			return r
		}
	}
	return nil
}
