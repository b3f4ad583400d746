package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseInterspersed(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		wantPos []string
		wantNS  string
	}{
		"flags first":        {args: []string{"-n", "hub", "jupyter-alice"}, wantPos: []string{"jupyter-alice"}, wantNS: "hub"},
		"flags after":        {args: []string{"jupyter-alice", "-n", "hub"}, wantPos: []string{"jupyter-alice"}, wantNS: "hub"},
		"long flag between":  {args: []string{"a", "--namespace=hub", "b"}, wantPos: []string{"a", "b"}, wantNS: "hub"},
		"no positional args": {args: []string{"--namespace", "x"}, wantNS: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			var o opsFlags
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.register(fs)
			pos, err := parseInterspersed(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantPos, pos); diff != "" {
				t.Errorf("positional (-want +got):\n%s", diff)
			}
			if o.namespace != tc.wantNS {
				t.Errorf("namespace = %q, want %q", o.namespace, tc.wantNS)
			}
		})
	}
}

// TestOpsCommandsRejectBadInput: usage errors exit 2 with a message and
// never reach the API server.
func TestOpsCommandsRejectBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		run  func(args []string, stdout, stderr io.Writer) int
		args []string
		want string
	}{
		"status bad output":   {statusCmd, []string{"-o", "xml"}, `unknown output format "xml"`},
		"status extra arg":    {statusCmd, []string{"pods"}, `unexpected arguments ["pods"]`},
		"explain no pod":      {explainCmd, nil, "want exactly one pod name"},
		"explain two pods":    {explainCmd, []string{"a", "b"}, "want exactly one pod name"},
		"await bad interval":  {awaitCmd, []string{"--interval", "0s"}, "--interval must be positive"},
		"await unknown flag":  {awaitCmd, []string{"--bogus"}, "flag provided but not defined: -bogus"},
		"await bad duration":  {awaitCmd, []string{"--timeout", "soon"}, `invalid value "soon"`},
		"status unknown flag": {statusCmd, []string{"--watch"}, "flag provided but not defined: -watch"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := tc.run(tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}
