package ops

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
	"prepuller.dev/prepuller/webhook"
)

func TestHeldAtStart(t *testing.T) {
	const img = "jupyter/r-notebook:1"
	kubelet := corev1.EventSource{Component: "kubelet"}
	for name, tc := range map[string]struct {
		events []corev1.Event
		want   string
	}{
		"no events": {want: "unknown"},
		"present":   {events: []corev1.Event{{Source: kubelet, Reason: "Pulled", Message: `Container image "` + img + `" already present on machine`}}, want: "present"},
		"pulled": {events: []corev1.Event{
			{Source: kubelet, Reason: "Pulling", Message: `Pulling image "` + img + `"`},
			{Source: kubelet, Reason: "Pulled", Message: `Successfully pulled image "` + img + `" in 3s`},
		}, want: "pulled"},
		// A restart finds the image the pod's own first start pulled.
		"pulled then present on restart": {events: []corev1.Event{
			{Source: kubelet, Reason: "Pulled", Message: `Successfully pulled image "` + img + `" in 3s`},
			{Source: kubelet, Reason: "Pulled", Message: `Container image "` + img + `" already present on machine`},
		}, want: "pulled"},
		"other image": {events: []corev1.Event{{Source: kubelet, Reason: "Pulled", Message: `Container image "busybox" already present on machine`}}, want: "unknown"},
		"not kubelet": {events: []corev1.Event{{Source: corev1.EventSource{Component: "someone"}, Reason: "Pulled", Message: `Container image "` + img + `" already present on machine`}}, want: "unknown"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := heldAtStart(tc.events, img); got != tc.want {
				t.Errorf("heldAtStart = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzHeldAtStart: events are written by anyone with create rights on
// events; whatever they say, the answer is one of the three values.
func FuzzHeldAtStart(f *testing.F) {
	f.Add("Pulled", `Container image "x" already present on machine`, "x")
	f.Add("Pulling", `Pulling image "x"`, "x")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, reason, message, image string) {
		got := heldAtStart([]corev1.Event{{Source: corev1.EventSource{Component: "kubelet"}, Reason: reason, Message: message}}, image)
		if got != "unknown" && got != "present" && got != "pulled" {
			t.Fatalf("heldAtStart = %q", got)
		}
	})
}

func TestNotSteered(t *testing.T) {
	scope, err := userpod.DefaultOptions().Scope("prepuller")
	if err != nil {
		t.Fatal(err)
	}
	user := func(ns string) *corev1.Pod {
		return builder.MakeUserPod("jupyter-alice", ns, "alice").Container("notebook", "jupyter/r-notebook:1").Obj()
	}
	withAnnotation := func(p *corev1.Pod, k, v string) *corev1.Pod {
		p.Annotations[k] = v
		return p
	}
	for name, tc := range map[string]struct {
		scope  *userpod.Scope
		pod    *corev1.Pod
		raw    string
		imgErr error
		want   string
	}{
		"prepuller's own namespace": {scope: scope, pod: user("prepuller"), raw: "x", want: "not steered: prepuller does not look at its namespace"},
		"not a user pod": {scope: scope, pod: builder.MakePod("other", "hub").Container("c", "x").Obj(), raw: "x",
			want: "not steered: not a user pod"},
		"skipped":       {scope: scope, pod: withAnnotation(user("hub"), userpod.AnnotationSkip, "true"), raw: "x", want: `not steered: prepuller.dev/skip is "true"`},
		"steer false":   {scope: scope, pod: withAnnotation(user("hub"), webhook.AnnotationSteer, "false"), raw: "x", want: `not steered: prepuller.dev/steer is "false"`},
		"no container":  {scope: scope, pod: user("hub"), want: "not steered: the pod has no container"},
		"invalid image": {scope: scope, pod: user("hub"), raw: "Not A/Valid", imgErr: errors.New("bad"), want: `not steered: invalid image reference "Not A/Valid"`},
		"a user pod":    {scope: scope, pod: user("hub"), raw: "x", want: "not steered: at admission no eligible node held the image"},
		"no scope":      {pod: user("prepuller"), raw: "x", want: "not steered: at admission no eligible node held the image"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := notSteered(tc.scope, tc.pod, tc.raw, tc.imgErr); !strings.HasPrefix(got, tc.want) {
				t.Errorf("notSteered = %q, want it to begin %q", got, tc.want)
			}
		})
	}
}
