package render

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"prepuller.dev/prepuller/pkg/imageref"
)

func TestContainerName(t *testing.T) {
	cases := map[string]struct {
		image      string
		wantPrefix string
	}{
		"plain":       {"docker.io/jupyter/scipy-notebook:2024-01-15", "pull-scipy-notebook-2024-01-15-"},
		"latest":      {"quay.io/jupyter/base-notebook:latest", "pull-base-notebook-latest-"},
		"digest":      {"ghcr.io/org/img@sha256:" + strings.Repeat("ab", 32), "pull-img-sha256-abab"},
		"port":        {"registry.example.com:5000/team/lab:v1.2.3", "pull-lab-v1-2-3-"},
		"odd tag":     {"docker.io/library/python:3.12_RC-1.Slim", "pull-python-3-12-rc-1-slim-"},
		"long":        {"docker.io/org/" + strings.Repeat("very-long-name-", 10) + ":" + strings.Repeat("t", 120), "pull-very-long-name-very-long-name-very-long-name-"},
		"only dashes": {"docker.io/org/_._:___", "pull-"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := ContainerName(tc.image)
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Fatalf("%q is not a DNS-1123 label: %v", got, errs)
			}
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("ContainerName(%q) = %q, want prefix %q", tc.image, got, tc.wantPrefix)
			}
			if again := ContainerName(tc.image); again != got {
				t.Errorf("not stable: %q then %q", got, again)
			}
		})
	}
}

func TestContainerNamesUnique(t *testing.T) {
	// Many references that sanitize to the same tail must still get
	// distinct names.
	var images []string
	for i := 0; i < 500; i++ {
		raw := fmt.Sprintf("registry-%d.example.com/org/notebook:v1", i)
		if i%2 == 0 {
			raw = fmt.Sprintf("docker.io/org%d/notebook:V1", i)
		}
		img, err := imageref.Normalize(raw)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	names := ContainerNames(images)
	seen := map[string]string{}
	for _, img := range images {
		n := names[img]
		if other, ok := seen[n]; ok {
			t.Fatalf("%q and %q both named %q", other, img, n)
		}
		seen[n] = img
		if n != ContainerName(img) {
			t.Errorf("%q renamed to %q without a clash", img, n)
		}
	}
}

func TestContainerNamesResolvesClash(t *testing.T) {
	// Find two references whose short names really clash (same tail,
	// same 8-digit hash): a birthday search over 32 bits.
	byName := map[string]string{}
	var a, b string
	for i := 0; i < 400000 && a == ""; i++ {
		img := fmt.Sprintf("docker.io/org%d/notebook:1", i)
		n := ContainerName(img)
		if other, ok := byName[n]; ok {
			a, b = other, img
		}
		byName[n] = img
	}
	if a == "" {
		t.Fatal("no clash found to test with")
	}
	c := "docker.io/x/c:1"
	names := ContainerNames([]string{a, b, c})
	if names[c] != ContainerName(c) {
		t.Errorf("unrelated image renamed: %q", names[c])
	}
	if names[a] == names[b] {
		t.Errorf("clash not resolved: both %q", names[a])
	}
	for _, img := range []string{a, b} {
		if errs := validation.IsDNS1123Label(names[img]); len(errs) > 0 {
			t.Errorf("%q: %v", names[img], errs)
		}
	}
}
