// Command demo is `make demo`: a local control plane from real binaries
// (etcd, kube-apiserver, kube-scheduler, kube-controller-manager, and kwok
// simulating nodes), prepuller serving against it with its webhook registered
// by a real MutatingWebhookConfiguration over TLS, and a few JupyterHub user
// pods. It prints what prepuller learned, pulled and steered, then stops
// everything it started (or, with --keep, waits for Ctrl-C).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	keep := flag.Bool("keep", false, "leave the cluster running after the demo and print a kubeconfig path; Ctrl-C ends it")
	nodes := flag.Int("nodes", 3, "number of kwok nodes")
	flag.Parse()
	// envtest and client-go log through controller-runtime's logger; the
	// demo prints its own story, and prepuller's log goes to a file.
	logf.SetLogger(logr.Discard())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{nodes: *nodes, keep: *keep, start: time.Now()}
	err := d.run(ctx)
	d.cleanup()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Println("interrupted; everything the demo started is stopped")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		if d.dir != "" {
			fmt.Fprintf(os.Stderr, "logs were in %s (removed); rerun with --keep to inspect a live cluster\n", d.dir)
		}
		os.Exit(1)
	}
}
