package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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
	waitForTerm(t, dst)
	if err := exec.Command(bin, "-install", filepath.Join(dir, "missing", "noop")).Run(); err == nil {
		t.Error("install into a missing directory succeeded, want a non-zero exit")
	}
}

// waitForTerm runs the copy with -wait as a placed slot container does: it
// must still be running after it had time to exit, and exit 0 on SIGTERM.
func waitForTerm(t *testing.T, prog string) {
	t.Helper()
	cmd := exec.Command(prog, "-wait")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting -wait: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("-wait exited on its own (%v), want it to run until SIGTERM", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("-wait after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("-wait did not exit on SIGTERM")
	}
}
