package certs

import (
	"context"
	"crypto/x509"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// filePollInterval: how often fileWaiter looks at the directory. A mounted
// Secret appears all at once when the kubelet has it, so a short poll costs
// two small reads a second for a few seconds at start.
const filePollInterval = 500 * time.Millisecond

var (
	_ manager.Runnable               = &fileWaiter{}
	_ manager.LeaderElectionRunnable = &fileWaiter{}
)

// fileWaiter closes ready once dir holds a key pair that parses and is valid
// now. It does not watch afterwards: controller-runtime's certificate
// watcher reloads changed files, and a key pair does not stop existing.
type fileWaiter struct {
	dir   string
	ready chan struct{}
	// now is replaced in tests.
	now func() time.Time
}

func (w *fileWaiter) NeedLeaderElection() bool { return false }

func (w *fileWaiter) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("certs").WithValues("dir", w.dir)
	if w.now == nil {
		w.now = time.Now
	}
	t := time.NewTicker(filePollInterval)
	defer t.Stop()
	var lastErr string
	for {
		certPEM, keyPEM, err := readKeyPair(w.dir)
		if err == nil {
			var leaf *x509.Certificate
			if leaf, err = checkKeyPair(certPEM, keyPEM, w.now()); err == nil {
				log.Info("serving certificate loaded", "notAfter", leaf.NotAfter, "dnsNames", leaf.DNSNames)
				close(w.ready)
				return nil
			}
		}
		// Log each distinct reason once, not every poll.
		if err.Error() != lastErr {
			lastErr = err.Error()
			log.Info("waiting for a valid serving certificate", "reason", lastErr)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
