package install

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestChartReadmeValues keeps the chart README's values table true: one row
// per value of values.yaml (a leaf: a scalar, a list, or an empty map), and
// for scalars and empty lists and maps the default as JSON.
func TestChartReadmeValues(t *testing.T) {
	chart := filepath.Join(repoRoot(t), "manifests", "helm", "prepuller")
	data, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	leaves("", values, want)

	readme, err := os.ReadFile(filepath.Join(chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := got[key]; dup {
			t.Errorf("README lists %s twice", key)
		}
		got[key] = strings.TrimSpace(cells[2])
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("README values table keys (-values.yaml +README):\n%s", diff)
	}
	for key, def := range want {
		if def != "" && got[key] != "" && got[key] != "`"+def+"`" {
			t.Errorf("README says %s defaults to %s, values.yaml has `%s`", key, got[key], def)
		}
	}
}

// leaves records each leaf path with its default as JSON, or "" for a
// non-empty list or map (described in words in the README).
func leaves(prefix string, v any, out map[string]string) {
	m, ok := v.(map[string]any)
	if ok && len(m) > 0 {
		for k, sub := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			leaves(p, sub, out)
		}
		return
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		out[prefix] = ""
		return
	}
	b, _ := json.Marshal(v)
	out[prefix] = string(b)
}
