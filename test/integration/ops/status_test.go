package ops_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"prepuller.dev/prepuller/cmd/prepuller/ops"
)

func TestStatus(t *testing.T) {
	ctx := context.Background()
	const ns = "status"
	fixture(ctx, t, ns, map[string][]string{
		"status-0": {scipy, rnb, fading},
		"status-1": {scipy, fading},
		"status-2": {scipy, fading},
	})
	s, err := ops.Load(ctx, k8s, ns, t0)
	if err != nil {
		t.Fatal(err)
	}
	st := ops.BuildStatus(s)
	// The DaemonSet was written now, not at t0: check, then leave it out
	// of the golden files.
	if w := st.Summary.LastWrite; w == nil || time.Since(*w) > time.Minute {
		t.Errorf("last DaemonSet write = %v, want within the last minute", w)
	}
	st.Summary.LastWrite = nil

	states := map[string]string{}
	for _, r := range st.Images {
		states[r.Image] = r.State
	}
	want := map[string]string{
		scipy:  ops.StateEverywhere,
		rnb:    ops.StatePlaced,
		newer:  ops.StateWaiting,
		solo:   ops.StateHeld,
		broken: ops.StateQuarantined,
		fading: ops.StateExpiring,
		"docker.io/jupyter/base-notebook:2024-01-15": ops.StateWaiting,
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}

	for name, format := range map[string]string{
		"status.golden":      ops.OutputTable,
		"status-wide.golden": ops.OutputWide,
		"status.json.golden": ops.OutputJSON,
		"status.yaml.golden": ops.OutputYAML,
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ops.PrintStatus(&out, st, format, t0); err != nil {
				t.Fatal(err)
			}
			golden(t, name, out.Bytes())
		})
	}
}

// TestStatusWithoutPrepuller: an empty namespace is not an error; the
// notes say what is missing.
func TestStatusWithoutPrepuller(t *testing.T) {
	ctx := context.Background()
	s, err := ops.Load(ctx, k8s, "nothing-here", t0)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := ops.PrintStatus(&out, ops.BuildStatus(s), ops.OutputTable, t0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"prepuller is not running: no Lease nothing-here/prepuller-leader",
		"no state ConfigMap nothing-here/prepuller-puller-state",
		"no DaemonSet nothing-here/prepuller-puller",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestStatusCorruptState: a state that does not decode is a clear error.
func TestStatusCorruptState(t *testing.T) {
	ctx := context.Background()
	const ns = "corrupt"
	fixture(ctx, t, ns, nil)
	cm := stateConfigMap(ctx, t, ns)
	cm.Data["state.json"] = "{not json"
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	_, err := ops.Load(ctx, k8s, ns, t0)
	if err == nil || !strings.Contains(err.Error(), "state ConfigMap corrupt/prepuller-puller-state") {
		t.Errorf("Load = %v, want an error naming the state ConfigMap", err)
	}
}
