package imageref

import "testing"

// FuzzNormalize: any string users write in a pod spec or annotation, or a
// kubelet reports. Normalize must not panic, its output must be a fixed
// point (normalizing again changes nothing, or the same image would be
// learned twice), and the cache must agree with it.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"jupyter/scipy-notebook", "jupyter/scipy-notebook:2024-01-15", "busybox",
		"docker.io/library/busybox:latest", "quay.io/jupyter/r-notebook:2024",
		"localhost:5000/team/image:tag", "registry.example.org:443/a/b/c:v1",
		"ghcr.io/prepuller/prepuller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"jupyter/base-notebook:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"  padded:1  ", "", "UPPER/case", "a:b:c", "[::1]:5000/img:1", "img@sha256:short",
	} {
		f.Add(s)
	}
	cache := NewCache(64)
	f.Fuzz(func(t *testing.T, raw string) {
		ref, err := Normalize(raw)
		cref, cerr := cache.Normalize(raw)
		if ref != cref || (err == nil) != (cerr == nil) {
			t.Fatalf("Normalize(%q) = %q, %v; cached %q, %v", raw, ref, err, cref, cerr)
		}
		if err != nil {
			if ref != "" {
				t.Fatalf("Normalize(%q) returned %q with error %v", raw, ref, err)
			}
			return
		}
		again, err := Normalize(ref)
		if err != nil {
			t.Fatalf("Normalize(%q) = %q, which does not parse: %v", raw, ref, err)
		}
		if again != ref {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, ref, again)
		}
	})
}
