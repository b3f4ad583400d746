package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"prepuller.dev/prepuller/test/cluster"
)

// restartDelay is how long the supervisor waits before starting a replica
// that exited, like a kubelet's first restart backoff (10s there; shorter
// here so a run measures prepuller, not the backoff).
const restartDelay = time.Second

// replica is one prepuller process, restarted whenever it exits, as a
// kubelet restarts a container.
type replica struct {
	name, bin, config, kubeconfig, dir, probeAddr string

	mu       sync.Mutex
	cmd      *exec.Cmd
	starts   int
	stopping bool
	exited   chan struct{} // closed when the current process ends
}

func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return nil
	}
	// One log per run, so leads reads only the current run's.
	f, err := os.Create(r.logPath(r.starts + 1))
	if err != nil {
		return fmt.Errorf("opening %s log: %w", r.name, err)
	}
	cmd := exec.Command(r.bin, "serve", "--config", r.config, "--kubeconfig", r.kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", r.name, err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	r.starts++
	exited := r.exited
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
		time.Sleep(restartDelay)
		if err := r.start(); err != nil {
			fmt.Fprintf(os.Stderr, "restarting %s: %v\n", r.name, err)
		}
	}()
	return nil
}

// signal sends sig to the current process.
func (r *replica) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return syscall.Kill(r.cmd.Process.Pid, sig)
}

// kill SIGKILLs the current process and waits until it is gone (the
// supervisor then restarts it).
func (r *replica) kill() error {
	r.mu.Lock()
	exited := r.exited
	r.mu.Unlock()
	if err := r.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-exited
	return nil
}

func (r *replica) stop() {
	r.mu.Lock()
	r.stopping = true
	exited := r.exited
	r.mu.Unlock()
	_ = r.signal(syscall.SIGCONT)
	_ = r.signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = r.signal(syscall.SIGKILL)
		<-exited
	}
}

// ready waits for the current process's /readyz.
func (r *replica) ready(ctx context.Context) error {
	return cluster.WaitReady(ctx, r.probeAddr, nil)
}

// readyNow asks /readyz once.
func (r *replica) readyNow(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.probeAddr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// leads reports whether the replica runs and its current run's log says it
// acquired the leader lease.
func (r *replica) leads() bool {
	r.mu.Lock()
	path, exited := r.logPath(r.starts), r.exited
	r.mu.Unlock()
	select {
	case <-exited: // dead, waiting for its restart: its last log says nothing now
		return false
	default:
	}
	data, err := os.ReadFile(path)
	return err == nil && bytes.Contains(data, []byte("Successfully acquired lease"))
}

func (r *replica) logPath(run int) string {
	return filepath.Join(r.dir, fmt.Sprintf("%s-%d.log", r.name, run))
}

// usage is the current process's CPU time (user and system) and resident
// memory, from /proc.
func (r *replica) usage() (cpu time.Duration, rss int64, err error) {
	r.mu.Lock()
	pid := r.cmd.Process.Pid
	r.mu.Unlock()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces, so split
	// after its closing parenthesis): utime and stime are the 12th and
	// 13th, in clock ticks (USER_HZ, 100 on Linux).
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
			}
			rss = kb << 10
		}
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, rss, nil
}
