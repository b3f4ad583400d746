package ops_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"prepuller.dev/prepuller/cmd/prepuller/ops"
)

// TestAwait waits for the default images (those the leader would put
// everywhere: scipy, r-notebook, fading, new (chosen but not written) and
// the configured base-notebook, not yet in the saved state) while the
// nodes pull them, and checks the progress lines.
func TestAwait(t *testing.T) {
	ctx := context.Background()
	const ns = "await"
	fixture(ctx, t, ns, map[string][]string{
		"await-0": {scipy, rnb, fading},
		"await-1": {scipy, fading},
		"await-2": {scipy},
	})
	load := func(ctx context.Context) (*ops.Snapshot, error) { return ops.Load(ctx, k8s, ns, t0) }

	// Each check lets one more node pull: the nodes change between polls,
	// as kubelets report them.
	steps := []func(){
		func() { setNode(ctx, t, "await-0", ns, []string{scipy, rnb, fading, newer, base}) },
		func() { setNode(ctx, t, "await-1", ns, []string{scipy, rnb, fading, newer, base}) },
		func() { setNode(ctx, t, "await-2", ns, []string{scipy, rnb, fading, newer, base}) },
	}
	var out bytes.Buffer
	pp := ops.NewProgressPrinter(&out, false)
	var seen []string
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := ops.Await(ctx, load, nil, time.Millisecond, func(p ops.Progress) {
		pp.Report(p)
		seen = append(seen, p.String())
		if len(steps) > 0 {
			steps[0]()
			steps = steps[1:]
		}
	})
	if err != nil {
		t.Fatalf("Await: %v", err)
	}
	if !p.Done() {
		t.Errorf("Await returned %v, not done", p)
	}
	want := []string{
		"0/3 nodes, 4 images pending",
		"1/3 nodes, 4 images pending",
		"2/3 nodes, 4 images pending",
		"3/3 nodes, 0 images pending",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	golden(t, "await.golden", out.Bytes())
}

// TestAwaitTimeout: an image no node gets ends in ErrTimeout with the last
// progress.
func TestAwaitTimeout(t *testing.T) {
	ctx := context.Background()
	const ns = "await-timeout"
	fixture(ctx, t, ns, map[string][]string{"await-timeout-0": {scipy}})
	load := func(ctx context.Context) (*ops.Snapshot, error) { return ops.Load(ctx, k8s, ns, t0) }
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	p, err := ops.Await(ctx, load, []string{"jupyter/scipy-notebook:2024-01-15", "quay.io/never/pulled:1"}, 20*time.Millisecond, func(ops.Progress) {})
	if !errors.Is(err, ops.ErrTimeout) {
		t.Fatalf("Await = %v, want ErrTimeout", err)
	}
	if diff := cmp.Diff([]string{scipy, "quay.io/never/pulled:1"}, p.Pending); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	if _, err := ops.Await(context.Background(), load, []string{"UPPER/Case::bad"}, time.Millisecond, func(ops.Progress) {}); err == nil {
		t.Error("Await with an invalid image: want an error")
	}
}

// TestAwaitNothingToWaitFor: in a namespace without prepuller's state and
// DaemonSet (a wrong -n), waiting for the default images is an error, not
// an instant success a hook would take for "pulled".
func TestAwaitNothingToWaitFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	load := func(ctx context.Context) (*ops.Snapshot, error) { return ops.Load(ctx, k8s, "default", t0) }
	_, err := ops.Await(ctx, load, nil, time.Millisecond, func(ops.Progress) {})
	if err == nil || errors.Is(err, ops.ErrTimeout) || !strings.Contains(err.Error(), "nothing to wait for") {
		t.Fatalf("Await in an empty namespace = %v, want a 'nothing to wait for' error", err)
	}
}
