package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A process naming a run's directory is a trace, and a stale one: a run
// killed before its teardown leaves such processes behind.
func TestRunProcessesAreStaleTraces(t *testing.T) {
	dir := filepath.Join(os.TempDir(), RunDirPrefix+"tracetest")
	cmd := exec.Command("sleep", "30", dir)
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	want := "process " + strconv.Itoa(cmd.Process.Pid) + " sleep"
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
