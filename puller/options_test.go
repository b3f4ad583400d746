package puller

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultOptionsValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
}

func TestValidateNamesYAMLPaths(t *testing.T) {
	cases := map[string]struct {
		edit func(*Options)
		want string
	}{
		"daemonset name":   {func(o *Options) { o.DaemonSetName = "Bad.Name" }, "puller.daemonSetName:"},
		"max images":       {func(o *Options) { o.MaxImages = 0 }, "puller.maxImages:"},
		"max images cap":   {func(o *Options) { o.MaxImages = MaxMaxImages + 1 }, "puller.maxImages: 201 must be between 1 and 200"},
		"long state name":  {func(o *Options) { o.StateConfigMapName = strings.Repeat("a", 201) }, "puller.stateConfigMapName: 201 characters"},
		"too many static":  {func(o *Options) { o.MaxImages = 1; o.StaticImages = []string{"a", "b"} }, "puller.staticImages: 2 images exceed"},
		"bad static":       {func(o *Options) { o.StaticImages = []string{"not an image!"} }, "puller.staticImages[0]:"},
		"bad allow":        {func(o *Options) { o.Allow = []string{"[a-"} }, "puller.allow[0]:"},
		"bad deny":         {func(o *Options) { o.Deny = []string{"ok/*", ""} }, "puller.deny[1]:"},
		"relative noop":    {func(o *Options) { o.NoopPath = "bin/noop" }, "puller.noopPath:"},
		"bad secret":       {func(o *Options) { o.PullSecrets = []string{"Not_Valid"} }, "puller.pullSecrets[0]:"},
		"bad unavailable":  {func(o *Options) { o.MaxUnavailable = intstr.FromString("lots") }, "puller.maxUnavailable:"},
		"zero unavailable": {func(o *Options) { o.MaxUnavailable = intstr.FromInt32(0) }, "puller.maxUnavailable: 0"},
		"backoff order":    {func(o *Options) { o.QuarantineMaxBackoff = duration(1) }, "puller.quarantineMaxBackoff:"},
		"state name":       {func(o *Options) { o.StateConfigMapName = "" }, "puller.stateConfigMapName:"},
		"resync":           {func(o *Options) { o.ResyncInterval = duration(0) }, "puller.resyncInterval:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPodSelectorMatchesRenderedPods(t *testing.T) {
	opts := DefaultOptions()
	sel := PodSelector(opts)
	if !sel.Matches(labels.Set(objectLabels(opts))) {
		t.Errorf("selector %s does not match the pod template labels %v", sel, objectLabels(opts))
	}
	other := opts
	other.DaemonSetName = "other"
	if sel.Matches(labels.Set(objectLabels(other))) {
		t.Error("selector matches another puller's pods")
	}
	if diff := cmp.Diff(selectorLabels(opts), map[string]string{
		"app.kubernetes.io/name": "prepuller", "app.kubernetes.io/component": "puller", "prepuller.dev/puller": "prepuller-puller",
	}); diff != "" {
		t.Errorf("selector labels changed (they are immutable on a live DaemonSet) (-got +want):\n%s", diff)
	}
}
