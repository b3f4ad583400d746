package install

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"prepuller.dev/prepuller/pkg/dashboard"
	"prepuller.dev/prepuller/test/cluster"
)

var update = flag.Bool("update", false, "rewrite the chart's files/dashboard.json from pkg/dashboard")

func dashboardFile(t testing.TB) string {
	return filepath.Join(repoRoot(t), "manifests", "helm", "prepuller", "files", "dashboard.json")
}

// monitoringValues switch on every monitoring object.
func monitoringValues() map[string]any {
	// One map each: Helm merges the defaults into the maps it is given.
	on := func() map[string]any { return map[string]any{"enabled": true} }
	return map[string]any{"monitoring": map[string]any{
		"serviceMonitor": on(), "prometheusRule": on(), "dashboard": on(),
	}}
}

// TestDashboardFile: the chart ships what pkg/dashboard builds. After
// changing the dashboard: go test ./test/integration/install -run TestDashboardFile -update
func TestDashboardFile(t *testing.T) {
	want, err := dashboard.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(dashboardFile(t), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(dashboardFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("files/dashboard.json is stale; rerun with -update (-built +file):\n%s", diff)
	}
}

func TestMonitoringOptIn(t *testing.T) {
	kinds := func(objs []*unstructured.Unstructured) []string {
		var ks []string
		for _, o := range objs {
			if o.GetKind() == "ServiceMonitor" || o.GetKind() == "PrometheusRule" || o.GetName() == "prepuller-dashboard" {
				ks = append(ks, o.GetKind())
			}
		}
		slices.Sort(ks)
		return ks
	}
	if got := kinds(renderHelm(t, "prepuller", "prepuller", nil)); len(got) != 0 {
		t.Errorf("default values render %v; monitoring must be opt-in", got)
	}
	objs := renderHelm(t, "prepuller", "prepuller", monitoringValues())
	if diff := cmp.Diff([]string{"ConfigMap", "PrometheusRule", "ServiceMonitor"}, kinds(objs)); diff != "" {
		t.Errorf("monitoring objects (-want +got):\n%s", diff)
	}

	sm := find(t, objs, "ServiceMonitor", "prepuller")
	port, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	svc := find(t, objs, "Service", "prepuller-webhook")
	svcLabels := svc.GetLabels()
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svcLabels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the Service has %q", k, v, svcLabels[k])
		}
	}
	if len(port) != 1 || port[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("ServiceMonitor endpoints = %v, want the Service's metrics port", port)
	}

	cm := find(t, objs, "ConfigMap", "prepuller-dashboard")
	if got := cm.GetLabels()["grafana_dashboard"]; got != "1" {
		t.Errorf("dashboard ConfigMap label grafana_dashboard = %q, want \"1\" (the Grafana sidecar's default)", got)
	}
	text, _, _ := unstructured.NestedString(cm.Object, "data", "prepuller.json")
	var d map[string]any
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatalf("dashboard ConfigMap holds no JSON: %v", err)
	}
	if d["uid"] != dashboard.UID {
		t.Errorf("dashboard uid = %v, want %s", d["uid"], dashboard.UID)
	}
}

// selectorName matches a metric name in front of a label selector, the
// only form the dashboard and the alerts use.
var selectorName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// TestMonitoringMetricsExist: every series the dashboard and the alerts
// query is one prepuller exports: a prepuller_ name registered in this
// repository's code, or one of controller-runtime's (webhook latency,
// leader election) registered in the module prepuller builds with; or,
// for the alerts on what only the API server sees, one of its admission
// series, found in k8s.io/apiserver's source.
func TestMonitoringMetricsExist(t *testing.T) {
	exported := exportedMetrics(t)
	for name := range apiServerMetrics(t) {
		exported[name] = true
	}
	objs := renderHelm(t, "prepuller", "prepuller", monitoringValues())
	var exprs []string
	groups, _, _ := unstructured.NestedSlice(find(t, objs, "PrometheusRule", "prepuller").Object, "spec", "groups")
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			exprs = append(exprs, r.(map[string]any)["expr"].(string))
		}
	}
	if len(exprs) == 0 {
		t.Fatal("no alert expressions rendered")
	}
	d, err := os.ReadFile(dashboardFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(d, &dash); err != nil {
		t.Fatal(err)
	}
	n := len(exprs)
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	if len(exprs) == n {
		t.Fatal("no dashboard queries found")
	}
	for _, e := range exprs {
		for _, m := range selectorName.FindAllStringSubmatch(e, -1) {
			name := m[1]
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
					name = base
				}
			}
			if !exported[name] {
				t.Errorf("%s is queried but not exported by prepuller (in %q)", m[1], e)
			}
		}
	}
}

// apiServerMetrics are the API server's admission series,
// apiserver_admission_<Name>, from the Name fields of the k8s.io/apiserver
// module prepuller builds with (the same code kube-apiserver registers).
func apiServerMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/apiserver").Output()
	if err != nil {
		t.Fatalf("locating k8s.io/apiserver: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg", "admission", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `namespace = "apiserver"`) || !strings.Contains(string(src), `subsystem = "admission"`) {
		t.Fatal("k8s.io/apiserver's admission metrics no longer name namespace apiserver, subsystem admission")
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s+"([a-z0-9_]+)"`).FindAllSubmatch(src, -1) {
		names["apiserver_admission_"+string(m[1])] = true
	}
	if !names["apiserver_admission_webhook_admission_duration_seconds"] {
		t.Fatalf("found %v in k8s.io/apiserver's admission metrics, not the webhook duration series: the scan is broken", names)
	}
	return names
}

var metricLiteral = regexp.MustCompile(`"((?:prepuller|controller_runtime_webhook|leader_election)_[a-z0-9_]+)"`)

// exportedMetrics collects metric names from Name fields in the
// non-test Go sources of this repository and of the controller-runtime
// packages that register the webhook and leader election series.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/controller-runtime").Output()
	if err != nil {
		t.Fatalf("locating controller-runtime: %v", err)
	}
	cr := strings.TrimSpace(string(out))
	dirs := []string{
		filepath.Join(cr, "pkg", "webhook", "internal", "metrics"),
		filepath.Join(cr, "pkg", "metrics"),
	}
	names := map[string]bool{}
	scan := func(path string) {
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricLiteral.FindAllSubmatch(src, -1) {
			names[string(m[1])] = true
		}
	}
	root := repoRoot(t)
	for _, top := range []string{"cmd", "certs", "pkg", "puller", "webhook"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				scan(path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			scan(filepath.Join(dir, e.Name()))
		}
	}
	return names
}

// TestAlertRules runs the rendered PrometheusRule's groups through
// Prometheus's own rule tester, promtool test rules, with the cases in
// testdata/alerts_test.yaml.
func TestAlertRules(t *testing.T) {
	dir, err := cluster.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	promtool := filepath.Join(dir, "promtool")
	if _, err := os.Stat(promtool); err != nil {
		t.Fatalf("promtool not built: run make promtool (test/controlplane/build.sh --promtool): %v", err)
	}
	rule := find(t, renderHelm(t, "prepuller", "prepuller", monitoringValues()), "PrometheusRule", "prepuller")
	spec, _, _ := unstructured.NestedMap(rule.Object, "spec")
	rules, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = work
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, outBuf.String())
	}
	t.Logf("promtool:\n%s", outBuf.String())
}
