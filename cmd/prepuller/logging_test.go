package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// TestNoStackTracesAtError: an error logged once per bad request (by
// controller-runtime or by prepuller) must cost one line, not a stack of
// thirty. zap's production default adds a stack trace at Error.
func TestNoStackTracesAtError(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			opts := newLoggerOptions("info", format)
			opts.DestWriter = &out
			log := crzap.New(crzap.UseFlagOptions(&opts))
			log.Error(errors.New("boom"), "something failed", "key", "value")
			got := out.String()
			if lines := strings.Count(strings.TrimSpace(got), "\n") + 1; lines != 1 || strings.Contains(got, "stacktrace") || strings.Contains(got, ".go:") {
				t.Errorf("Error wrote %d lines, want one without a stack trace:\n%s", lines, got)
			}
			if !strings.Contains(got, "boom") || !strings.Contains(got, "something failed") {
				t.Errorf("Error lost the message or the error:\n%s", got)
			}
		})
	}
}
