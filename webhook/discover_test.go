package webhook

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

// However bad the extra-images list, one request logs one line and counts
// every item it skipped.
func TestDiscoverLogsOncePerRequest(t *testing.T) {
	var lines []string
	h := newTestHandler(t, testInventory(), &wt.Recorder{})
	h.log = funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})

	extra := manyExtra(userpod.MaxExtraImages-2) + ",BAD ONE,Also Bad,org/x:1,org/y:1,org/z:1"
	pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "Not/Valid Either").Annotation(AnnotationExtraImages, extra).Obj()
	invalidBefore, droppedBefore := testutil.ToFloat64(invalidRefs), testutil.ToFloat64(extraImagesDropped)

	if resp := h.Handle(context.Background(), review(t, pod)); !resp.Allowed {
		t.Fatalf("pod not allowed: %+v", resp.Result)
	}

	if len(lines) != 1 || !strings.Contains(lines[0], `"invalid"=3`) || !strings.Contains(lines[0], `"extraImagesPastLimit"=3`) {
		t.Errorf("log lines = %q, want one reporting 3 invalid and 3 past the limit", lines)
	}
	if got := testutil.ToFloat64(invalidRefs) - invalidBefore; got != 3 {
		t.Errorf("invalid references counted %v, want 3", got)
	}
	if got := testutil.ToFloat64(extraImagesDropped) - droppedBefore; got != 3 {
		t.Errorf("extra images dropped %v, want 3", got)
	}
}
