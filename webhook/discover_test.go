package webhook

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

// However bad the extra-images list, one request logs one line and counts
// every item it skipped.
func TestDiscoverLogsOncePerRequest(t *testing.T) {
	var lines []string
	h := newTestHandler(t, testInventory(), &wt.Recorder{})
	ctx := logf.IntoContext(context.Background(), funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{}))

	extra := manyExtra(userpod.MaxExtraImages-2) + ",BAD ONE,Also Bad,org/x:1,org/y:1,org/z:1"
	pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "Not/Valid Either").Annotation(AnnotationExtraImages, extra).Obj()
	invalidBefore, droppedBefore := testutil.ToFloat64(h.metrics.invalidRefs), testutil.ToFloat64(h.metrics.extraImagesDropped)

	if resp := h.Handle(ctx, review(t, pod)); !resp.Allowed {
		t.Fatalf("pod not allowed: %+v", resp.Result)
	}

	if len(lines) != 1 || !strings.Contains(lines[0], `"invalid"=3`) || !strings.Contains(lines[0], `"extraImagesPastLimit"=3`) {
		t.Errorf("log lines = %q, want one reporting 3 invalid and 3 past the limit", lines)
	}
	if got := testutil.ToFloat64(h.metrics.invalidRefs) - invalidBefore; got != 3 {
		t.Errorf("invalid references counted %v, want 3", got)
	}
	if got := testutil.ToFloat64(h.metrics.extraImagesDropped) - droppedBefore; got != 3 {
		t.Errorf("extra images dropped %v, want 3", got)
	}
}
