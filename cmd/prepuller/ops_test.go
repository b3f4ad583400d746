package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
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

// TestEveryOpsFlagIsDocumented keeps docs/operating.md true for the
// operator commands' flags.
func TestEveryOpsFlagIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func([]string, io.Writer, io.Writer) int{
		"status": statusCmd, "explain": explainCmd, "await": awaitCmd,
	} {
		var usage bytes.Buffer
		if code := run([]string{"-h"}, io.Discard, &usage); code != 0 {
			t.Fatalf("%s -h: exit %d", name, code)
		}
		flags := 0
		for _, line := range strings.Split(usage.String(), "\n") {
			rest, ok := strings.CutPrefix(line, "  -")
			if !ok {
				continue
			}
			flag, _, _ := strings.Cut(rest, " ")
			flags++
			want := "`--" + flag + "`"
			if len(flag) == 1 {
				want = "`-" + flag + "`"
			}
			if !strings.Contains(string(doc), want) {
				t.Errorf("docs/operating.md does not document %s of prepuller %s", want, name)
			}
		}
		if flags < 4 {
			t.Errorf("%s: found %d flags in the usage text; has its format changed?\n%s", name, flags, usage.String())
		}
	}
}
