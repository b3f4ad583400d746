package puller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/pullsecrets"
)

// Mirrored pull secrets are referenced by the puller pods and no longer
// warned about; others still are, as without mirroring.
func TestMirroredPullSecrets(t *testing.T) {
	cases := map[string]struct {
		mirror      pullsecrets.Options
		wantSecrets []corev1.LocalObjectReference
		wantEvents  int
	}{
		"off": {
			wantSecrets: []corev1.LocalObjectReference{{Name: "home"}},
			wantEvents:  2,
		},
		"one mirrored": {
			mirror:      pullsecrets.Options{Namespace: "jhub", Names: []string{"regcred"}},
			wantSecrets: []corev1.LocalObjectReference{{Name: "home"}, {Name: "regcred"}},
			wantEvents:  1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Image = "ghcr.io/prepuller/prepuller:test"
			opts.PullSecrets = []string{"home"}
			opts.MirrorPullSecrets = tc.mirror
			if err := opts.Validate(); err != nil {
				t.Fatal(err)
			}
			rec := events.NewFakeRecorder(10)
			r := &reconciler{opts: opts, ns: "prepuller", events: rec, warned: newWarnedSet(maxWarned)}
			e := &imageset.Entry{Image: "registry.example/team/notebook:1", PullSecrets: map[string][]string{"jhub": {"other", "regcred"}}}
			ds, err := r.render([]*imageset.Entry{e}, &appsv1.DaemonSet{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSecrets, ds.Spec.Template.Spec.ImagePullSecrets); diff != "" {
				t.Errorf("imagePullSecrets (-want +got):\n%s", diff)
			}
			if got := len(rec.Events); got != tc.wantEvents {
				t.Errorf("%d Warning events, want %d", got, tc.wantEvents)
			}
		})
	}
}
