package puller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeepTemplateOrder(t *testing.T) {
	cases := map[string]struct {
		want, live, got []string
	}{
		"same images re-ranked keep the live order": {
			want: []string{"b", "a", "c"},
			live: []string{"a", "b", "c", "", ""},
			got:  []string{"a", "b", "c"},
		},
		"a new image takes the new order": {
			want: []string{"d", "a", "b"},
			live: []string{"a", "b", "c"},
			got:  []string{"d", "a", "b"},
		},
		"one image fewer takes the new order": {
			want: []string{"a", "b"},
			live: []string{"a", "b", "c"},
			got:  []string{"a", "b"},
		},
		"a gap in the live slots is closed by the live order": {
			want: []string{"b", "a"},
			live: []string{"a", "", "b"},
			got:  []string{"a", "b"},
		},
		"nothing live": {
			want: []string{"a"},
			got:  []string{"a"},
		},
		"nothing wanted": {
			live: []string{"", ""},
			got:  nil,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.got, keepTemplateOrder(tc.want, tc.live)); diff != "" {
				t.Errorf("keepTemplateOrder (-want +got):\n%s", diff)
			}
		})
	}
}
