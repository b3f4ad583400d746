// Package e2e runs prepuller as a user installs it on a local cluster of
// real nodes: etcd, kube-apiserver, kube-scheduler, kube-controller-manager,
// and kubelets with containerd and runc, pulling from a registry on
// loopback. make e2e runs it (as root; see README). Without PREPULLER_E2E=1
// every test skips, so go test ./... and go vet cover the code without
// touching the host.
package e2e

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// env is the running cluster, set up once by TestMain.
var env *environment

// budget bounds the whole run: the harness tears down and exits before
// go test's own -timeout would kill it with everything still running.
const budget = 25 * time.Minute

func TestMain(m *testing.M) {
	if os.Getenv("PREPULLER_E2E") != "1" {
		fmt.Println("e2e: skipped (PREPULLER_E2E=1 and root run it: make e2e)")
		os.Exit(0)
	}
	// envtest and the client log through controller-runtime; unset, it
	// prints a warning with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	e, err := setUp()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
		if e != nil {
			e.tearDown()
		}
		os.Exit(1)
	}
	env = e
	// Ctrl-C, a kill, or the budget running out: clean up, then exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing down\n", s)
		e.tearDown()
		os.Exit(130)
	}()
	watchdog := time.AfterFunc(budget, func() {
		fmt.Fprintf(os.Stderr, "e2e: still running after %v: tearing down\n", budget)
		e.tearDown()
		os.Exit(1)
	})
	code := m.Run()
	watchdog.Stop()
	e.writeResults()
	if !e.tearDown() && code == 0 {
		code = 1
	}
	os.Exit(code)
}
