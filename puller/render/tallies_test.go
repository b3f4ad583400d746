package render

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prepuller.dev/prepuller/pkg/imageref"
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
		"too large":       `{"version":1,"images":{"` + strings.Repeat("a", MaxTalliesBytes) + `":{"users":1}}}`,
		"not normalized":  `{"version":1,"images":{"busybox":{"users":1,"lastSeen":"2026-01-01T00:00:00Z"}}}`,
		"not a reference": `{"version":1,"images":{"<<<":{"users":1,"lastSeen":"2026-01-01T00:00:00Z"}}}`,
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

// 200 images (puller.maxImages at most) of the longest references a
// normalized image can have still fit.
func TestEncodeTalliesBound(t *testing.T) {
	in := map[string]imageset.Tally{}
	for i := 0; i < 200; i++ {
		// A long registry, path and tag, pinned by digest: ~390 bytes.
		ref, err := imageref.Normalize(fmt.Sprintf("registry-%03d.%s.example.org/%s/image:%s@sha256:%s", i, strings.Repeat("r", 60), strings.Repeat("p/", 60)+"x", strings.Repeat("t", 100), strings.Repeat("0", 64)))
		if err != nil {
			t.Fatal(err)
		}
		in[ref] = imageset.Tally{Users: 64, LastSeen: time.Now()}
	}
	v, err := EncodeTallies(in)
	if err != nil {
		t.Fatalf("200 of the longest references: %v", err)
	}
	got, err := Tallies(withTallies(v))
	if err != nil || len(got) != 200 {
		t.Fatalf("read back %d of 200 (%d bytes): %.300v", len(got), len(v), err)
	}
	in["registry.example.org/one/more:1"] = imageset.Tally{Users: 1}
	for i := 0; i < 200; i++ {
		in[fmt.Sprintf("registry.example.org/%s/more-%d:1", strings.Repeat("p", 300), i)] = imageset.Tally{Users: 1}
	}
	if _, err := EncodeTallies(in); !errors.Is(err, ErrTalliesTooLarge) {
		t.Errorf("401 long references: %v, want ErrTalliesTooLarge", err)
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
		if _, err := EncodeTallies(got); err != nil {
			t.Fatalf("re-encoding accepted tallies: %v", err)
		}
	})
}
