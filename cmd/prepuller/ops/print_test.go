package ops

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProgressPrinter(t *testing.T) {
	steps := []Progress{
		{Ready: 0, Eligible: 2, Pending: []string{"a", "b"}},
		{Ready: 0, Eligible: 2, Pending: []string{"a", "b"}}, // unchanged: not repeated
		{Ready: 2, Eligible: 2},
	}
	for name, tc := range map[string]struct {
		terminal bool
		want     string
	}{
		"pipe":     {want: "0/2 nodes, 2 images pending\n2/2 nodes, 0 images pending\n"},
		"terminal": {terminal: true, want: "\r\033[K0/2 nodes, 2 images pending\r\033[K2/2 nodes, 0 images pending\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			pp := NewProgressPrinter(&out, tc.terminal)
			for _, p := range steps {
				pp.Report(p)
			}
			pp.Finish()
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgressDone(t *testing.T) {
	for name, tc := range map[string]struct {
		p    Progress
		want bool
	}{
		"no eligible nodes": {p: Progress{}, want: false},
		"pending":           {p: Progress{Ready: 1, Eligible: 2, Pending: []string{"a"}}, want: false},
		"everywhere":        {p: Progress{Ready: 2, Eligible: 2}, want: true},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.Done(); got != tc.want {
				t.Errorf("Done() = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "-", 512: "512B", 1536: "1.5KiB", 3 << 30: "3.0GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
