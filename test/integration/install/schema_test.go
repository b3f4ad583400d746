package install

import (
	"bytes"
	"encoding"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"prepuller.dev/prepuller/cmd/prepuller/config"
)

func schemaFile(t testing.TB) string {
	return filepath.Join(repoRoot(t), "manifests", "helm", "prepuller", "values.schema.json")
}

// TestValuesSchemaConfig: the schema's properties.config follows
// prepuller's configuration types, so a key the binary would reject (it
// decodes strictly) fails at helm install instead, and every key it
// accepts passes. After changing the types:
// go test ./test/integration/install -run TestValuesSchemaConfig -update
func TestValuesSchemaConfig(t *testing.T) {
	data, err := os.ReadFile(schemaFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	props := schema["properties"].(map[string]any)
	want := schemaOf(reflect.TypeFor[config.Config]())
	want["description"] = "The configuration file (docs/configuration.md); generated from its Go types."
	if *update {
		props["config"] = want
		out, err := json.MarshalIndent(schema, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile(t), append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Round-trip through JSON so both sides have JSON's types.
	var wantJSON any
	b, _ := json.Marshal(want)
	_ = json.Unmarshal(b, &wantJSON)
	if diff := cmp.Diff(wantJSON, props["config"]); diff != "" {
		t.Errorf("values.schema.json properties.config is stale; rerun with -update (-types +file):\n%s", diff)
	}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// schemaOf is the JSON schema of what sigs.k8s.io/yaml's strict decoding
// of t accepts: objects with exactly the json-tagged fields, scalars by
// kind. Types that decode themselves (durations, quantities) are left
// unconstrained here; prepuller validates them.
func schemaOf(t reflect.Type) map[string]any {
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.Struct:
		props := map[string]any{}
		addFields(t, props)
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": []any{"array", "null"}, "items": schemaOf(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	default:
		return map[string]any{}
	}
}

func addFields(t reflect.Type, props map[string]any) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" || strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addFields(ft, props)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
	}
}

// TestValuesSchemaRejectsTypos: a misspelt key fails rendering through
// Helm's own schema validation, naming the key; every documented value
// (the chart's values.yaml, the overlays' settings, monitoring on) passes.
func TestValuesSchemaRejectsTypos(t *testing.T) {
	chrt, err := loader.Load(filepath.Join(repoRoot(t), "manifests", "helm", "prepuller"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		values map[string]any
		// wantErr is a substring of the error; empty: valid.
		wantErr string
	}{
		"defaults":           {},
		"cert-manager":       {values: helmValues("cert-manager")},
		"monitoring on":      {values: monitoringValues()},
		"top-level typo":     {values: map[string]any{"replica": 3}, wantErr: "replica"},
		"nested typo":        {values: map[string]any{"networkPolicy": map[string]any{"enable": true}}, wantErr: "enable"},
		"monitoring typo":    {values: map[string]any{"monitoring": map[string]any{"serviceMonitors": map[string]any{"enabled": true}}}, wantErr: "serviceMonitors"},
		"config typo":        {values: map[string]any{"config": map[string]any{"puller": map[string]any{"maxImage": 3}}}, wantErr: "maxImage"},
		"config wrong type":  {values: map[string]any{"config": map[string]any{"puller": map[string]any{"maxImages": "thirty"}}}, wantErr: "maxImages"},
		"deprecated key":     {values: map[string]any{"config": map[string]any{"webhook": map[string]any{"namespaces": []any{"jhub"}}}}},
		"pull secret mirror": {values: mirrorValues()},
		"mirror typo":        {values: map[string]any{"config": map[string]any{"puller": map[string]any{"mirrorPullSecrets": map[string]any{"namespace": "jhub", "name": []any{"a"}}}}}, wantErr: "additional properties 'name' not allowed"},
		"wrong pull policy":  {values: map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, wantErr: "pullPolicy"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := chartutil.ToRenderValues(chrt, tc.values,
				chartutil.ReleaseOptions{Name: "prepuller", Namespace: "prepuller", IsInstall: true},
				chartutil.DefaultCapabilities)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid values rejected: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("values accepted, want an error naming %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not name %q", err, tc.wantErr)
			}
		})
	}
}

// TestChartLint runs Helm's linter (what helm lint runs) with the default
// values and with monitoring on, as strictly as helm lint --strict: a
// warning fails too; information (an icon is recommended) is logged.
func TestChartLint(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "manifests", "helm", "prepuller")
	for name, vals := range map[string]map[string]any{"defaults": nil, "monitoring": monitoringValues(), "pull secret mirror": mirrorValues()} {
		t.Run(name, func(t *testing.T) {
			res := lint.All(dir, vals, "prepuller", true)
			var msgs bytes.Buffer
			for _, m := range res.Messages {
				if m.Severity < support.WarningSev {
					t.Log(m.Error())
					continue
				}
				msgs.WriteString(m.Error() + "\n")
			}
			if msgs.Len() > 0 {
				t.Errorf("helm lint:\n%s", msgs.String())
			}
		})
	}
}
