package faults

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// crash SIGKILLs the one process running binary whose command line
// mentions mark (a directory of this run), as a node losing it would.
// envtest only stops its processes gracefully, and a kube-apiserver with
// open watches can take longer than envtest waits.
func crash(binary, mark string) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		if filepath.Base(string(args[0])) != binary || !bytes.Contains(cmdline, []byte(mark)) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("killing %s (%d): %w", binary, pid, err)
		}
		// Wait until the port is free: the process is gone.
		for syscall.Kill(pid, 0) == nil {
			if data, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); bytes.Contains(data, []byte(") Z ")) {
				break // a zombie until envtest reaps it: dead all the same
			}
		}
		return nil
	}
	return fmt.Errorf("no %s process of this run (%s)", binary, mark)
}
