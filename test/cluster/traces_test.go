package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process naming a run's directory is a trace, and a stale one: a run
// killed before its teardown leaves such processes behind.
func TestRunProcessesAreStaleTraces(t *testing.T) {
	dir := filepath.Join(os.TempDir(), RunDirPrefix+"tracetest")
	// The directory is sh's $0 (sleep would reject it as an argument and
	// exit); the "; true" keeps sh from exec'ing sleep in its place.
	cmd := exec.Command("sh", "-c", "sleep 30; true", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill sleep with sh
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sh: %v", err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()

	// Start returns after fork; until the child has exec'd, its cmdline is
	// still this test binary's. Wait for the exec, not for a fixed time.
	cmdline := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "cmdline")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(cmdline)
		if strings.Contains(string(b), dir) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sh never exec'd: cmdline %q", b)
		}
	}

	want := "process " + strconv.Itoa(cmd.Process.Pid) + " sh"
	traces := HostTraces{}
	for _, p := range runProcesses() {
		traces["process "+p] = true
	}
	if !traces[want] {
		t.Fatalf("%q not among the run's processes %v", want, traces)
	}
	traces["entry /sys/class/net/eth0"] = true
	traces["cgroup /sys/fs/cgroup/cpu/"+RunDirPrefix+"node-1"] = true
	stale := traces.Stale()
	if len(stale) < 2 || strings.Contains(strings.Join(stale, " "), "eth0") {
		t.Errorf("stale traces %v: want the process and the cgroup, not the host's own link", stale)
	}
}
