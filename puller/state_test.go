package puller

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The copy of a corrupt state is named after the corrupt version: a retry
// finds the same name, a new corruption gets a new one, and the name is
// always valid.
func TestCorruptCopyName(t *testing.T) {
	cases := map[string]struct {
		rv   string
		want string
	}{
		"decimal":        {"12345", "state-corrupt-12345"},
		"empty":          {"", "state-corrupt-e3b0c44298fc"},
		"not a number":   {"A/b", ""},
		"absurdly long":  {"123456789012345678901234567890", ""},
		"largest uint64": {"18446744073709551615", "state-corrupt-18446744073709551615"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := corruptCopyName("state", tc.rv)
			if tc.want != "" && got != tc.want {
				t.Errorf("corruptCopyName = %q, want %q", got, tc.want)
			}
			if got != corruptCopyName("state", tc.rv) {
				t.Error("not deterministic")
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("%q is not a valid name: %v", got, errs)
			}
		})
	}
	if corruptCopyName("state", "1") == corruptCopyName("state", "2") {
		t.Error("two corrupt versions share a copy")
	}
}
