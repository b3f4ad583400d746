// Package logutil holds logging helpers shared by prepuller's packages.
package logutil

import (
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Sampled writes at most one line per Every; the next line written says
// how many were dropped in between. It is for lines anyone who reaches a
// port can cause (malformed requests, failed TLS handshakes): only the
// line is dropped, so count the events in a metric as well.
type Sampled struct {
	Log   logr.Logger
	Every time.Duration
	Now   func() time.Time // time.Now when nil

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// Info logs msg unless a line was written less than Every ago.
func (l *Sampled) Info(msg string, keysAndValues ...any) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	l.mu.Lock()
	t := now()
	if t.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.suppressed = 0
	l.next = t.Add(l.Every)
	l.mu.Unlock()
	l.Log.Info(msg, append(keysAndValues, "suppressed", suppressed)...)
}

// Write makes Sampled an io.Writer for the standard library's log package,
// which net/http uses for what its servers cannot tell a handler (e.g.
// "http: TLS handshake error from ...: tls: client didn't provide a
// certificate"). Each write is one line.
func (l *Sampled) Write(p []byte) (int, error) {
	l.Info(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
