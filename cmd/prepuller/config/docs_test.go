package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestEveryKeyIsDocumented keeps docs/configuration.md true: every key of
// the configuration file must appear there as `key.path`.
func TestEveryKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keyPaths("", reflect.TypeOf(Config{})) {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", key)
		}
	}
}

// keyPaths lists the YAML key paths of t, descending into prepuller's own
// option structs and treating everything else (durations, Kubernetes types)
// as one value.
func keyPaths(prefix string, t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct && strings.HasPrefix(f.Type.PkgPath(), "prepuller.dev/") {
			keys = append(keys, keyPaths(path, f.Type)...)
			continue
		}
		keys = append(keys, path)
	}
	return keys
}
