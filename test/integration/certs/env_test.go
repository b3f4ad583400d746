package certs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/test/cluster"
)

const (
	namespace      = "prepuller"
	serviceAccount = "system:serviceaccount:prepuller:prepuller"
	// mutatedLabel is what the test webhook adds, so a created object shows
	// the webhook was really called (and not skipped).
	mutatedLabel = "prepuller.dev/mutated-by"
	testPath     = "/mutate-test"
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	return s
}

// The control plane is started on first use and shared by this package's
// tests (each uses its own objects).
var (
	env cluster.Shared
)

func TestMain(m *testing.M) {
	// PREPULLER_TEST_LOGS=1 shows the managers' logs.
	if os.Getenv("PREPULLER_TEST_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// startControlPlane returns the shared etcd and kube-apiserver
// (authorization mode RBAC).
func startControlPlane(t *testing.T) *rest.Config {
	t.Helper()
	return env.Config(t)
}

// installFiles creates the objects of the given manifest files as they are
// (plain YAML, no kustomize needed), so the test runs under the RBAC and
// with the Secret the install ships.
func installFiles(ctx context.Context, t *testing.T, c client.Client, files ...string) {
	t.Helper()
	root := cluster.RepoRoot()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if err == io.EOF {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.Create(ctx, u); err != nil {
				t.Fatalf("creating %s %s from %s: %v", u.GetKind(), u.GetName(), f, err)
			}
		}
	}
}

// impersonate returns cfg acting as prepuller's ServiceAccount.
func impersonate(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate.UserName = serviceAccount
	cfg.Impersonate.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	return cfg
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// replica is one prepuller process: a manager with a webhook server, a test
// handler and certs.Setup.
type replica struct {
	name    string
	port    int
	certDir string
	ready   <-chan struct{}
	done    chan error
	// metrics holds this replica's certificate series.
	metrics *prometheus.Registry
}

// labelHandler adds mutatedLabel=<replica name> to ConfigMaps.
func labelHandler(name string) admission.Handler {
	return admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		if req.Operation != admissionv1.Create {
			return admission.Allowed("")
		}
		cm := &corev1.ConfigMap{}
		if err := json.Unmarshal(req.Object.Raw, cm); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Labels[mutatedLabel+"-"+name] = "true"
		out, err := json.Marshal(cm)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		return admission.PatchResponseFromRaw(req.Object.Raw, out)
	})
}

// startReplica starts a manager as prepuller's ServiceAccount.
func startReplica(ctx context.Context, t *testing.T, cfg *rest.Config, name string, opts certs.Options) *replica {
	t.Helper()
	return startReplicaIn(ctx, t, cfg, name, opts, filepath.Join(t.TempDir(), "certs"))
}

// startReplicaIn is startReplica with a given certificate directory.
func startReplicaIn(ctx context.Context, t *testing.T, cfg *rest.Config, name string, opts certs.Options, certDir string) *replica {
	t.Helper()
	r := &replica{name: name, port: freePort(t), certDir: certDir, done: make(chan error, 1), metrics: prometheus.NewRegistry()}
	mgr, err := ctrl.NewManager(impersonate(cfg), manager.Options{
		Scheme:                 newScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: r.port, CertDir: r.certDir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The handler is registered before Setup, the order cmd/prepuller uses:
	// the server must start even though the real certificate is not there.
	mgr.GetWebhookServer().Register(testPath, &admission.Webhook{Handler: labelHandler(name)})
	r.ready, err = certs.Setup(mgr, opts, certs.Deps{Namespace: namespace, CertDir: r.certDir, Metrics: r.metrics})
	if err != nil {
		t.Fatalf("certs.Setup: %v", err)
	}
	go func() { r.done <- mgr.Start(ctx) }()
	return r
}

func (r *replica) url() string { return fmt.Sprintf("https://localhost:%d%s", r.port, testPath) }

func waitReady(t *testing.T, r *replica, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.ready:
	case err := <-r.done:
		t.Fatalf("replica %s stopped before it was ready: %v", r.name, err)
	case <-time.After(timeout):
		t.Fatalf("replica %s not ready after %s", r.name, timeout)
	}
}
