package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestInstallAndRun builds the program, installs it with -install as the
// DaemonSet's first init container does, and runs the copy as every pull
// container does.
func TestInstallAndRun(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prepuller-noop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	dst := filepath.Join(dir, "shared", "noop")
	if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-install", dst).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatalf("installed program missing: %v", err)
	}
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("installed mode = %v, want r-xr-xr-x", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("shared dir holds %d files, want only the program (no temporary left)", len(entries))
	}
	for _, args := range [][]string{nil, {"anything"}} {
		if out, err := exec.Command(dst, args...).CombinedOutput(); err != nil || len(out) != 0 {
			t.Errorf("running the copy with %q: err=%v output=%q, want exit 0 and no output", args, err, out)
		}
	}
	if err := exec.Command(bin, "-install", filepath.Join(dir, "missing", "noop")).Run(); err == nil {
		t.Error("install into a missing directory succeeded, want a non-zero exit")
	}
}
