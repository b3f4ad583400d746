package ops

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
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
