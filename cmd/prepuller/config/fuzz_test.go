package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// FuzzParse: the configuration file is the operator's to write. Parsing
// and validating must not panic, and a configuration that parses must
// write back to YAML that parses to the same configuration (what
// `prepuller` logs or a tool regenerates is what it runs with).
func FuzzParse(f *testing.F) {
	for _, path := range []string{"manifests/base/config.yaml", "manifests/overlays/cert-manager/config.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", path))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "logLevel: debug\nwebhook:\n  affinityWeight: 20\npuller:\n  writeInterval: 30s\n  maxImages: 5\n",
		"webhook:\n  afinityWeight: 20\n", "puller:\n  maxImages: many\n", "puller:\n  ttl: -1h\n", "[]", "null", "a: &a [*a]",
		"puller:\n  nodeSelector: {a: b}\n  maxUnavailable: 10%\n  staticImages: [busybox]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Default()
		if err := Parse(data, &cfg); err != nil {
			return
		}
		_ = cfg.Validate()
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("parsed configuration does not marshal: %v", err)
		}
		again := Default()
		if err := Parse(out, &again); err != nil {
			t.Fatalf("written configuration does not parse: %v\n%s", err, out)
		}
		if diff := cmp.Diff(cfg, again); diff != "" {
			t.Fatalf("configuration changed across YAML (-parsed +reparsed):\n%s\n%s", diff, out)
		}
	})
}
