package imageset

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecode: the state ConfigMap is anyone's to edit (or to corrupt).
// Decode must not panic; what it accepts must encode, decode again to the
// same set, and encode to the same bytes (Decode -> Encode -> Decode is
// stable), also when a limit makes Encode leave things out.
func FuzzDecode(f *testing.F) {
	s := New()
	s.Observe(Sighting{Image: "docker.io/jupyter/scipy-notebook:2024", Namespace: "hub", Pod: "jupyter-alice", User: "alice", PullSecrets: []string{"cred"}, Time: t0})
	s.Observe(Sighting{Image: "docker.io/jupyter/scipy-notebook:2024", Namespace: "jupyterhub-bob", Pod: "jupyter-bob", User: "bob", PullSecrets: []string{"cred"}, PullPolicy: "Always", Time: t0.Add(time.Hour)})
	s.SetStatic([]string{"quay.io/jupyter/r-notebook:2024"}, t0)
	s.MarkFailing("docker.io/jupyter/scipy-notebook:2024", t0, Backoff{Initial: time.Minute, Max: time.Hour}, "ImagePullBackOff on 2 node(s)")
	current, _, err := s.Encode(0, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(current)
	// As docs/puller-state.md shows it, and as states before secretsSeen
	// were written.
	f.Add([]byte(`{"version":1,"images":[{"image":"docker.io/jupyter/scipy-notebook:2024-01-15","firstSeen":"2026-01-01T00:00:00Z","lastSeen":"2026-01-02T00:00:00Z","users":{"alice":"2026-01-02T00:00:00Z","bob":"2026-01-01T00:00:00Z"},"pods":7,"recentPods":{"hub/jupyter-alice":"2026-01-02T00:00:00Z"},"running":2,"pullSecrets":{"hub":["registry-cred"],"other":["x"]},"pullAlways":false,"size":1234567890,"static":false,"addedAt":"2026-01-01T00:00:00Z","failingSince":null,"quarantine":{"since":"2026-01-01T00:00:00Z","retryAt":"2026-01-01T01:00:00Z","attempts":1,"reason":"ImagePullBackOff on 2 node(s)"}}]}`))
	f.Add([]byte(`{"version":1,"images":[]}`))
	f.Add([]byte(`{"version":1,"images":[{"image":"a","secretsSeen":{"gone":"2026-01-01T00:00:00Z"}}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Decode(data)
		if err != nil {
			return
		}
		first, _, err := set.Encode(0, nil)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		again, err := Decode(first)
		if err != nil {
			t.Fatalf("encoded state does not decode: %v\n%s", err, first)
		}
		second, _, err := again.Encode(0, nil)
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encode is not stable:\n%s\n%s", first, second)
		}
		if set.Fingerprint() != again.Fingerprint() {
			t.Fatal("fingerprint changed across a round trip")
		}
		// A limit only ever leaves out, and what it gives decodes.
		if limited, _, err := set.Encode(len(first)/2, nil); err == nil {
			if len(limited) > len(first)/2 {
				t.Fatalf("encoded %d bytes over the limit %d", len(limited), len(first)/2)
			}
			if _, err := Decode(limited); err != nil {
				t.Fatalf("limited state does not decode: %v", err)
			}
		}
		set.SetOwnNamespace("hub")
		set.Observe(Sighting{Image: "a", Namespace: "x", PullSecrets: []string{"s"}, Time: t0})
	})
}
