package render

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/pkg/imageset"
)

func withTallies(v string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{TalliesAnnotation: v}}}
}

func TestTalliesRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 500, time.FixedZone("x", 3600))
	in := map[string]imageset.Tally{
		"docker.io/jupyter/scipy-notebook:2024":         {Users: 12, LastSeen: at},
		"quay.io/a/b@sha256:" + strings.Repeat("0", 64): {Users: 1, LastSeen: at.Add(-time.Hour)},
	}
	v, err := EncodeTallies(in)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeTallies(in)
	if v != again {
		t.Errorf("encoding is not deterministic:\n%s\n%s", v, again)
	}
	got, err := Tallies(withTallies(v))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]imageset.Tally{}
	for img, tl := range in {
		want[img] = imageset.Tally{Users: tl.Users, LastSeen: tl.LastSeen.UTC().Truncate(time.Second)}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestTalliesRefusesBadValues(t *testing.T) {
	cases := map[string]string{
		"not json":        "{",
		"other version":   `{"version":2,"images":{}}`,
		"no version":      `{"images":{}}`,
		"negative users":  `{"version":1,"images":{"a":{"users":-1,"lastSeen":"2026-01-01T00:00:00Z"}}}`,
		"empty image":     `{"version":1,"images":{"":{"users":1,"lastSeen":"2026-01-01T00:00:00Z"}}}`,
		"unknown field":   `{"version":1,"images":{},"extra":1}`,
		"bad time":        `{"version":1,"images":{"a":{"users":1,"lastSeen":"yesterday"}}}`,
		"too large":       `{"version":1,"images":{"` + strings.Repeat("a", maxTalliesBytes) + `":{"users":1}}}`,
		"trailing object": `{"version":1,"images":{}}{"version":1}`,
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Tallies(withTallies(v))
			if err == nil {
				t.Fatalf("Tallies(%q) = %v, want an error", v, got)
			}
		})
	}
	if got, err := Tallies(&appsv1.DaemonSet{}); got != nil || err != nil {
		t.Errorf("no annotation: %v, %v; want nil, nil", got, err)
	}
}

func TestEncodeTalliesBound(t *testing.T) {
	in := map[string]imageset.Tally{}
	for i := 0; i < 200; i++ {
		in["registry.example.org/some/long/path/image-"+strings.Repeat("x", 60)+string(rune('a'+i%26))+string(rune('a'+i/26))+":tag"] = imageset.Tally{Users: 64, LastSeen: time.Now()}
	}
	if _, err := EncodeTallies(in); err != nil {
		t.Errorf("200 long image names: %v", err)
	}
}

func FuzzTallies(f *testing.F) {
	f.Add(`{"version":1,"images":{"docker.io/a/b:1":{"users":3,"lastSeen":"2026-01-01T00:00:00Z"}}}`)
	f.Add(`{"version":1,"images":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, v string) {
		got, err := Tallies(withTallies(v))
		if err != nil {
			return
		}
		for img, tl := range got {
			if img == "" || tl.Users < 0 {
				t.Fatalf("accepted invalid entry %q: %+v", img, tl)
			}
		}
		if _, err := EncodeTallies(got); err != nil && len(got) < 200 {
			t.Fatalf("re-encoding accepted tallies: %v", err)
		}
	})
}
