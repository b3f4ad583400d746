package logutil

import (
	"log"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
)

func TestSampled(t *testing.T) {
	var lines []string
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &Sampled{
		Log:   funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{}),
		Every: 10 * time.Second,
		Now:   func() time.Time { return now },
	}
	std := log.New(l, "", 0)
	std.Print("http: TLS handshake error from 127.0.0.1:1: bad")
	for i := 0; i < 5; i++ {
		std.Print("http: TLS handshake error from 127.0.0.1:2: bad")
	}
	now = now.Add(10 * time.Second)
	l.Info("again", "k", "v")
	want := []string{
		`"level"=0 "msg"="http: TLS handshake error from 127.0.0.1:1: bad" "suppressed"=0`,
		`"level"=0 "msg"="again" "k"="v" "suppressed"=5`,
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
